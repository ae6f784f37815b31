"""The bundled MiniLM run on torch + tokenizers (prescreen/minilm.py) against sentence-transformers itself:
the same tokens, the same vectors to float rounding, for short, long (truncated) and odd texts."""

import numpy as np
import pytest

from fanno_spark.llm.model_store import embedding_model_path
from fanno_spark.prescreen import minilm

TEXTS = ["", "   padded with spaces   ", "Sort a list of tuples by their second element in Python.",
         "Überprüfe die Eingabe — naïve café 東京 🙂 \u00a0tabs\tand\nnewlines",
         " ".join(f"word{i} and more words about graphs, labels and communities" for i in range(120))]


@pytest.fixture(scope="module")
def models():
    from sentence_transformers import SentenceTransformer

    path = embedding_model_path()
    assert minilm.supported(path)
    reference = SentenceTransformer(path, device="cpu")
    reference.max_seq_length = 128
    return reference, minilm.MiniLM(path, max_seq_length=128)


def test_tokens_match_sentence_transformers(models):
    reference, ours = models
    want, got = reference.tokenize(TEXTS), ours.tokenize(TEXTS)
    for key in ("input_ids", "attention_mask", "token_type_ids"):
        assert got[key].tolist() == want[key].tolist(), key
    assert got["input_ids"].shape[1] == 128  # the long text is truncated at max_seq_length


def test_vectors_match_sentence_transformers(models):
    import torch

    reference, ours = models
    want = reference.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    with torch.inference_mode():
        got = ours(ours.tokenize(TEXTS))["sentence_embedding"].numpy()
    assert got.shape == want.shape == (len(TEXTS), ours.get_sentence_embedding_dimension())
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert np.abs(got - want).max() < 1e-4
    assert (np.sum(got * want, axis=1) > 0.99999).all()


def test_other_architectures_are_left_to_sentence_transformers(tmp_path):
    import json
    import shutil

    src = embedding_model_path()
    dst = tmp_path / "model"
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*.safetensors"))
    (dst / "model.safetensors").touch()
    assert minilm.supported(str(dst))
    pooling = json.loads((dst / "1_Pooling" / "config.json").read_text())
    (dst / "1_Pooling" / "config.json").write_text(json.dumps({**pooling, "pooling_mode_cls_token": True,
                                                               "pooling_mode_mean_tokens": False}))
    assert not minilm.supported(str(dst))
    assert not minilm.supported(str(tmp_path / "missing"))
