"""MiniLM sentence embeddings in an iterator pandas UDF; the model loads once per Python worker."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ..config import EmbedConfig

_MODELS: dict[str, object] = {}  # lives in the worker process across tasks (worker reuse)


def _model(path: str):
    if path not in _MODELS:
        from sentence_transformers import SentenceTransformer

        _MODELS[path] = SentenceTransformer(path, device="cpu")
    return _MODELS[path]


def encode(texts: list[str], path: str, batch_size: int) -> list[list[float]]:
    vecs = _model(path).encode(texts, batch_size=batch_size, normalize_embeddings=True,
                               show_progress_bar=False, convert_to_numpy=True)
    return [v.astype("float32").tolist() for v in vecs]


def embed_documents(df: DataFrame, cfg: EmbedConfig, model_path: str, text_col: str = "text",
                    out_col: str = "embedding") -> DataFrame:
    """Add a unit-norm `array<float>` embedding of the first cfg.max_chars characters."""

    @F.pandas_udf(T.ArrayType(T.FloatType()))
    def _embed(batches: Iterator[pd.Series]) -> Iterator[pd.Series]:
        for texts in batches:
            yield pd.Series(encode(texts.fillna("").tolist(), model_path, cfg.batch_size))

    return df.withColumn(out_col, _embed(F.substring(F.col(text_col), 1, cfg.max_chars)))
