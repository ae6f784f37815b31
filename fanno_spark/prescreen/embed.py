"""MiniLM sentence embeddings in an iterator pandas UDF; the model loads once per Python worker.

Device and precision are decided where the model loads (the executor): a GPU runs it in float16, a
CPU with native bf16 (avx512_bf16 / amx_bf16) in bfloat16, any other CPU in float32 (emulated bf16
is slower than float32 there). `embed.precision` set explicitly wins.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ..config import EmbedConfig

_MODELS: dict[tuple, object] = {}  # lives in the worker process across tasks (worker reuse)


def task_gpu() -> str | None:
    """The GPU Spark gave this task under a ResourceProfile ("cuda:<address>"), if any."""
    from pyspark import TaskContext

    ctx = TaskContext.get()
    gpus = ctx.resources().get("gpu") if ctx else None
    return f"cuda:{gpus.addresses[0]}" if gpus and gpus.addresses else None


def resolve_precision(requested: str) -> tuple[str, str]:
    """(device, torch dtype name) for this machine."""
    from ..llm.precision import cuda_available, resolve_here

    gpu = cuda_available()
    dtype = resolve_here(requested, "MiniLM embeddings")
    if dtype == "auto":  # a GPU: half precision is what it is built for, and MiniLM keeps its ranking in it
        dtype = "float16"
    return ((task_gpu() or "cuda") if gpu else "cpu"), dtype


def _model(path: str, precision: str = "auto", max_tokens: int = 256):
    key = (path, precision, max_tokens)
    if key not in _MODELS:
        import torch

        from . import minilm

        device, dtype = resolve_precision(precision)
        if minilm.supported(path):
            model = minilm.MiniLM(path, device=device, max_seq_length=max_tokens)
        else:  # another architecture: sentence-transformers itself (installed with the package)
            from sentence_transformers import SentenceTransformer

            model = SentenceTransformer(path, device=device)
            model.max_seq_length = max_tokens
        if dtype != "float32":
            model = model.to(getattr(torch, dtype))
        _MODELS[key] = model
    return _MODELS[key]


def encode(texts: list[str], path: str, batch_size: int, precision: str = "auto", max_tokens: int = 256):
    """Unit-norm float32 vectors (n, 384). Texts go longest first (less padding per batch, as
    sentence-transformers does) and the next batch is tokenized in a thread while the model runs the
    current one, so tokenization stays off the accelerator's critical path."""
    import numpy as np
    import torch

    model = _model(path, precision, max_tokens)
    if not texts:
        return np.zeros((0, model.get_sentence_embedding_dimension()), dtype=np.float32)
    order = np.argsort([-len(t) for t in texts], kind="stable")
    batches = [[texts[i] for i in order[s:s + batch_size]] for s in range(0, len(texts), batch_size)]
    out = []
    with ThreadPoolExecutor(1) as pool, torch.inference_mode():
        pending = pool.submit(model.tokenize, batches[0])
        for i in range(len(batches)):
            features = pending.result()
            if i + 1 < len(batches):
                pending = pool.submit(model.tokenize, batches[i + 1])
            features = {k: v.to(model.device, non_blocking=True) for k, v in features.items()
                        if isinstance(v, torch.Tensor)}
            emb = model(features)["sentence_embedding"].float()
            out.append(torch.nn.functional.normalize(emb, dim=1).cpu().numpy())
    vecs = np.empty((len(texts), out[0].shape[1]), dtype=np.float32)
    vecs[order] = np.concatenate(out)
    return vecs


def embed_documents(df: DataFrame, cfg: EmbedConfig, model_path: str, text_col: str = "text",
                    out_col: str = "embedding") -> DataFrame:
    """Add a unit-norm `array<float>` embedding of the first cfg.max_chars characters (cfg.max_tokens tokens).
    With embed.gpu_per_task / cpus_per_task the stage runs under its own ResourceProfile; embed.engine
    sparknlp runs the same model in the JVM instead (embed_sparknlp.py)."""
    if cfg.engine == "sparknlp":
        from . import embed_sparknlp

        return embed_sparknlp.embed_documents(df, cfg, model_path, text_col, out_col)
    if cfg.gpu_per_task or cfg.cpus_per_task:
        from ..resources import map_in_pandas_with_profile, resource_profile

        schema = T.StructType([*df.schema.fields, T.StructField(out_col, T.ArrayType(T.FloatType()))])

        def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
            for pdf in batches:
                texts = pdf[text_col].fillna("").str.slice(0, cfg.max_chars).tolist()
                vecs = encode(texts, model_path, cfg.batch_size, cfg.precision, cfg.max_tokens)
                yield pdf.assign(**{out_col: [v.tolist() for v in vecs]})

        return map_in_pandas_with_profile(df, run, schema, resource_profile(cfg.gpu_per_task, cfg.cpus_per_task))

    @F.pandas_udf(T.ArrayType(T.FloatType()))
    def _embed(batches: Iterator[pd.Series]) -> Iterator[pd.Series]:
        for texts in batches:
            yield pd.Series(list(encode(texts.fillna("").tolist(), model_path, cfg.batch_size, cfg.precision,
                                        cfg.max_tokens)))

    return df.withColumn(out_col, _embed(F.substring(F.col(text_col), 1, cfg.max_chars)))
