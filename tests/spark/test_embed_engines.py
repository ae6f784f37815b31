"""embed.engine sparknlp (the MiniLM's ONNX export in Spark NLP's E5Embeddings, in the JVM) against
sentence-transformers itself: the bundled corpus's pages (cut at embed.max_chars and at 256 tokens), short texts
of many lengths in one batch (padding), odd text; and the export's folder, made once and keyed."""

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from fanno_spark.config import EmbedConfig
from fanno_spark.llm.model_store import embedding_model_path
from fanno_spark.prescreen import embed, embed_sparknlp, minilm_onnx

ROOT = Path(__file__).resolve().parents[2]
# what BERT's normaliser changes and Spark NLP's tokenizer alone does not: accents (kana, Vietnamese, Greek),
# NBSP, zero-width and control characters, a dash inside a word; and empty text
ODD = ["", "   ", None, "x", "Überprüfe die Eingabe — naïve café, résumé", "مرحبا بالعالم. هذا نص عربي.",
       "这是中文句子。第二句话！", "日本語の文章です。ぱぴぷぺぽ、カタカナ", "한국어 문장입니다.", "Tiếng Việt có dấu",
       "Ελληνικά ώρα", "tabs\tand\nnewlines\u00a0and 🙂 emoji", "zero\u200bwidth ctrl\x00\x07x",
       "two cases to think about—users may", "A" * 3000]


def _pages(n: int) -> list[str]:
    with gzip.open(ROOT / "data" / "sample" / "pydocs.jsonl.gz", "rt") as f:
        return [json.loads(line)["text"] for line, _ in zip(f, range(n), strict=False)]


@pytest.fixture(scope="module")
def reference():
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(embedding_model_path(), device="cpu")
    model.max_seq_length = 256

    def encode(texts):
        return model.encode([t or "" for t in texts], batch_size=16, normalize_embeddings=True)

    return encode


def _sparknlp(spark, texts, batch_size=16):
    df = spark.createDataFrame([(f"{i:04d}", t) for i, t in enumerate(texts)], "id string, text string")
    out = embed.embed_documents(df.coalesce(1), EmbedConfig(engine="sparknlp", batch_size=batch_size),
                                embedding_model_path())
    rows = {r["id"]: r["embedding"] for r in out.select("id", "embedding").collect()}
    assert len(rows) == len(texts)
    return np.array([rows[f"{i:04d}"] for i in range(len(texts))], dtype=np.float32)


def _cosines(a, b):
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_pages_match_sentence_transformers(spark, reference):
    texts = [t[:2000] for t in _pages(120)]  # what docs_vec reads (embed.max_chars)
    got, want = _sparknlp(spark, texts), reference(texts)
    assert got.shape == (120, 384)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert _cosines(got, want).min() >= 0.999


def test_padded_batches_match(spark, reference):
    # one batch of 32 texts from 1 to 60 words: every text but the longest is padded
    words = " ".join(_pages(3)).split()
    texts = [" ".join(words[i:i + 1 + (7 * i) % 60]) for i in range(32)]
    got = _sparknlp(spark, texts, batch_size=32)
    assert _cosines(got, reference(texts)).min() >= 0.999
    alone = _sparknlp(spark, texts[:4], batch_size=1)  # no padding at all: the same vectors
    assert _cosines(alone, got[:4]).min() >= 0.9999


def test_odd_text_gets_a_vector(spark, reference):
    got = _sparknlp(spark, ODD)
    assert not np.isnan(got).any()
    assert _cosines(got, reference(ODD)).min() >= 0.999


def test_annotator_imported_once_per_session(spark):
    _sparknlp(spark, ["one text"])
    before = dict(embed_sparknlp._ANNOTATORS)
    _sparknlp(spark, ["another text", "and a third"])
    assert embed_sparknlp._ANNOTATORS.keys() == before.keys()
    assert all(embed_sparknlp._ANNOTATORS[k] is before[k] for k in before)


def test_export_is_made_once_and_never_taken_half_written(tmp_path):
    path = embedding_model_path()
    target = tmp_path / "minilm-onnx"
    target.mkdir()
    (target / "model.onnx").write_bytes(b"half")  # a killed export: no export.json
    assert minilm_onnx.export(path, target) == target
    first = (target / "model.onnx").stat()
    assert first.st_size > 10_000_000
    assert json.loads((target / "export.json").read_text())["opset"] == minilm_onnx.OPSET
    assert (target / "assets" / "vocab.txt").read_text() == (Path(path) / "vocab.txt").read_text()
    minilm_onnx.export(path, target)  # already there: kept as it is
    assert (target / "model.onnx").stat().st_mtime_ns == first.st_mtime_ns
    assert minilm_onnx.default_dir(path).name.startswith("minilm-onnx-")
    assert minilm_onnx.default_dir(path) == minilm_onnx.default_dir(path)
