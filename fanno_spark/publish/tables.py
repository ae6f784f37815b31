"""`final` as a Delta table (output.format: delta): its version for the MLflow lineage, and its name in a
catalog (output.table) as an external table over the run dir, so the data stays where the run wrote it."""

from __future__ import annotations

import re

from pyspark.sql import SparkSession


def version(spark: SparkSession, uri: str) -> int:
    """The table's current version (0 after the stage's one commit; more if someone changed it since)."""
    return int(spark.sql(f"DESCRIBE HISTORY delta.`{uri}` LIMIT 1").first()["version"])


def _same(uri: str) -> str:
    """file:/x and file:///x are one place (the catalog prints the first)."""
    return re.sub(r"^file:/+", "file:/", uri.rstrip("/"))


def register(spark: SparkSession, table: str, uri: str) -> str:
    """CREATE TABLE IF NOT EXISTS ... LOCATION: on Unity Catalog the run dir must be in an external location;
    a table of that name over another location is refused rather than repointed."""
    spark.sql(f"CREATE TABLE IF NOT EXISTS {table} USING DELTA LOCATION '{uri}'")
    location = next((r["data_type"] for r in spark.sql(f"DESCRIBE TABLE EXTENDED {table}").collect()
                     if r["col_name"] == "Location"), None)
    if location is not None and _same(location) != _same(uri):
        raise ValueError(f"output.table: {table} already exists over {location}, not {uri}")
    return table
