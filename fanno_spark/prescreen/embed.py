"""MiniLM sentence embeddings in an iterator pandas UDF; the model loads once per Python worker.

Device and precision are decided where the model loads (the executor): a GPU runs it in float16, a
CPU with native bf16 (avx512_bf16 / amx_bf16) in bfloat16, any other CPU in float32 (emulated bf16
is slower than float32 there). `embed.precision` set explicitly wins.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ..config import EmbedConfig

_MODELS: dict[tuple[str, str], object] = {}  # lives in the worker process across tasks (worker reuse)


def resolve_precision(requested: str) -> tuple[str, str]:
    """(device, torch dtype name) for this machine."""
    from ..llm.precision import cuda_available, resolve_here

    gpu = cuda_available()
    dtype = resolve_here(requested, "MiniLM embeddings")
    if dtype == "auto":  # a GPU: half precision is what it is built for, and MiniLM keeps its ranking in it
        dtype = "float16"
    return ("cuda" if gpu else "cpu"), dtype


def _model(path: str, precision: str = "auto"):
    key = (path, precision)
    if key not in _MODELS:
        import torch
        from sentence_transformers import SentenceTransformer

        device, dtype = resolve_precision(precision)
        model = SentenceTransformer(path, device=device)
        if dtype != "float32":
            model = model.to(getattr(torch, dtype))
        _MODELS[key] = model
    return _MODELS[key]


def encode(texts: list[str], path: str, batch_size: int, precision: str = "auto") -> list[list[float]]:
    vecs = _model(path, precision).encode(texts, batch_size=batch_size, normalize_embeddings=True,
                                          show_progress_bar=False, convert_to_tensor=True)
    return vecs.float().cpu().numpy().tolist()


def embed_documents(df: DataFrame, cfg: EmbedConfig, model_path: str, text_col: str = "text",
                    out_col: str = "embedding") -> DataFrame:
    """Add a unit-norm `array<float>` embedding of the first cfg.max_chars characters."""

    @F.pandas_udf(T.ArrayType(T.FloatType()))
    def _embed(batches: Iterator[pd.Series]) -> Iterator[pd.Series]:
        for texts in batches:
            yield pd.Series(encode(texts.fillna("").tolist(), model_path, cfg.batch_size, cfg.precision))

    return df.withColumn(out_col, _embed(F.substring(F.col(text_col), 1, cfg.max_chars)))
