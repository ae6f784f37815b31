"""Opt-in (`make test-gpu`): the docs_vec encode function on a GPU, against plain sentence-transformers there.

`embed.precision: auto` must pick the GPU and float16; the vectors must rank like sentence-transformers' float32
ones, and the stage's encode (longest first, next batch tokenized in a thread) must keep >= 0.9x the docs/s of
`SentenceTransformer.encode` in float16 on the same 2,000-character pages. Prints both rates.
"""

import time

import numpy as np
import pytest

pytestmark = pytest.mark.gpu
torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("no CUDA device", allow_module_level=True)

from fanno_spark.llm.model_store import embedding_model_path  # noqa: E402
from fanno_spark.prescreen import embed  # noqa: E402

WORDS = ("graph", "label", "community", "document", "instruction", "response", "model", "filter", "spark")


def _pages(n: int, chars: int = 2000) -> list[str]:
    rng = np.random.default_rng(0)
    pages = []
    for _ in range(n):
        words = rng.choice(WORDS, size=chars // 6)
        pages.append(" ".join(words)[:chars] + ".")
    return pages


def _rate(fn, texts) -> float:
    fn(texts[:256])  # warm-up: kernels, allocator
    torch.cuda.synchronize()
    start = time.perf_counter()
    fn(texts)
    torch.cuda.synchronize()
    return len(texts) / (time.perf_counter() - start)


def test_docs_vec_encode_runs_on_the_gpu_in_float16_near_sentence_transformers_speed():
    from sentence_transformers import SentenceTransformer

    path = str(embedding_model_path())
    device, dtype = embed.resolve_precision("auto")
    assert device.startswith("cuda")
    assert dtype == "float16"
    weight = next(iter(embed._model(path, "auto", 256).w.values()))  # the bundled MiniLM's weights
    assert weight.dtype == torch.float16 and weight.is_cuda

    texts = _pages(4096)
    reference = SentenceTransformer(path, device="cuda")
    reference.max_seq_length = 256
    want = reference.encode(texts[:512], normalize_embeddings=True, convert_to_numpy=True)
    got = embed.encode(texts[:512], path, 512, "auto", 256)
    assert (np.sum(got * want, axis=1) > 0.999).all()  # float16 keeps the float32 vectors' directions

    half = SentenceTransformer(path, device="cuda").half()
    half.max_seq_length = 256
    direct = _rate(lambda t: half.encode(t, batch_size=512, normalize_embeddings=True), texts)
    stage = _rate(lambda t: embed.encode(t, path, 512, "auto", 256), texts)
    print(f"GPU {torch.cuda.get_device_name()}: docs_vec encode {stage:.0f} docs/s, "
          f"sentence-transformers fp16 {direct:.0f} docs/s, ratio {stage / direct:.3f}")
    assert stage >= 0.9 * direct
