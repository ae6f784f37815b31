"""MLflow dataset lineage: the run logs the corpus it read and the dataset it wrote (`mlflow.log_input`
with source URI, digest, schema and row counts), so the run page's Datasets panel shows both."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

SPARK_TO_MLFLOW = {"string": "string", "bigint": "long", "int": "integer", "double": "double", "float": "float",
                   "boolean": "boolean", "binary": "binary", "timestamp": "datetime"}


def content_digest(df: DataFrame, columns: list[str]) -> tuple[int, str]:
    """(rows, digest) in one Spark job. The digest does not depend on row order or partitioning: the sum
    (low 32 bits, so a long never overflows) and the xor of a 64-bit hash of each row."""
    h = F.xxhash64(*[F.coalesce(F.col(c).cast("string"), F.lit("\\N")) for c in columns])
    row = df.agg(F.count(F.lit(1)).alias("n"), F.sum(h.bitwiseAND(F.lit(0xFFFFFFFF))).alias("s"),
                 F.bit_xor(h).alias("x")).first()
    n = int(row["n"])
    return n, hashlib.sha256(f"{n}:{row['s'] or 0}:{row['x'] or 0}".encode()).hexdigest()[:16]


def _schema(df: DataFrame):
    from mlflow.types import DataType
    from mlflow.types.schema import Array, ColSpec, Schema

    cols = []
    for name, kind in df.dtypes:
        if kind.startswith("array<") and kind[6:-1] in SPARK_TO_MLFLOW:
            cols.append(ColSpec(Array(DataType[SPARK_TO_MLFLOW[kind[6:-1]]]), name))
        elif kind in SPARK_TO_MLFLOW:
            cols.append(ColSpec(DataType[SPARK_TO_MLFLOW[kind]], name))
    return Schema(cols)


def _dataset(source_uri: str, name: str, digest: str, schema, profile: dict[str, Any],
             delta: tuple[str | None, int] | None = None):
    from mlflow.data.delta_dataset_source import DeltaDatasetSource
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.data.spark_dataset_source import SparkDatasetSource

    class CountedDataset(MetaDataset):
        """A MetaDataset with a profile (row counts): MetaDataset alone has none."""

        @property
        def profile(self) -> dict[str, Any]:
            return profile

        def to_dict(self) -> dict[str, str]:
            return {**super().to_dict(), "profile": json.dumps(profile)}

    if delta is None:
        source = SparkDatasetSource(path=source_uri)
    else:  # the Datasets panel shows the table (if named) and the version this run wrote
        source = DeltaDatasetSource(path=source_uri, delta_table_name=delta[0], delta_table_version=delta[1])
    return CountedDataset(source, name=name, digest=digest, schema=schema)


def log_dataset(tracker, df: DataFrame, source_uri: str, name: str, context: str, columns: list[str],
                profile: dict[str, Any], delta: tuple[str | None, int] | None = None) -> dict[str, Any]:
    """Logs df as an MLflow dataset of the run; returns what was logged (also for the card). delta: (table
    name or None, version) of a Delta table."""
    rows, digest = content_digest(df, columns)
    if delta is not None:  # also in the profile: MLflow's Delta source leaves out a version 0 (falsy)
        profile = {**profile, "format": "delta", "delta_version": delta[1], **({"table": delta[0]} if delta[0] else {})}
    info = {"name": name, "source": source_uri, "digest": digest, "num_rows": rows, **profile}
    if tracker is not None:
        ds = _dataset(source_uri, name, digest, _schema(df), {"num_rows": rows, **profile}, delta)
        tracker.mlflow.log_input(ds, context=context)
    return info


def log_corpus(ctx, docs: DataFrame, force: bool = False) -> None:
    """After the docs stage: the corpus as read (every row, rejects included). Without a tracker only the
    dataset card needs it, which asks for it itself (force) when the job gets that far."""
    from ..redact import redact

    if ctx.tracker is None and not force:
        return

    ctx.shared["lineage.input"] = log_dataset(
        ctx.tracker, docs, redact(ctx.cfg.input.path), "corpus", "input", ["id", "text"],
        {"format": ctx.cfg.input.format})


def log_output(ctx, final: DataFrame, uri: str, delta: tuple[str | None, int] | None = None) -> None:
    ctx.shared["lineage.output"] = log_dataset(
        ctx.tracker, final, uri, "instructions", "output", ["instruction", "input", "output"],
        {"rounds": int(final.agg(F.countDistinct("round")).first()[0])}, delta)
