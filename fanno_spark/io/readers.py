"""Corpus readers -> one normalised schema: id, url, text, source, plus read_error for rejects."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ..config import InputConfig

DOC_COLUMNS = ["id", "url", "text", "source"]


def read_jsonl(spark: SparkSession, cfg: InputConfig) -> DataFrame:
    """JSON Lines (optionally .gz). Broken lines and unusable records are kept with a read_error."""
    raw = (spark.read.text(cfg.path).withColumn("_source", F.input_file_name())
           .withColumn("_pos", F.monotonically_increasing_id()))  # input order, for "first id wins"
    if cfg.max_docs:
        raw = raw.limit(cfg.max_docs)
    # Parse `text` as raw JSON so a number or a list is told apart from a string.
    schema = T.StructType([T.StructField("id", T.StringType()), T.StructField("url", T.StringType()),
                           T.StructField("text", T.StringType())])
    parsed = raw.withColumn("j", F.from_json("value", schema, {"mode": "PERMISSIVE"}))
    text_kind = F.get_json_object("value", "$.text")
    is_string_text = F.trim(F.col("value")).rlike(r'"text"\s*:\s*"')
    read_error = (
        F.when(F.trim("value") == "", F.lit("empty_line"))
        .when(F.get_json_object("value", "$").isNull() | ~F.trim("value").startswith("{"), F.lit("malformed_json"))
        .when(text_kind.isNull(), F.lit("missing_text"))
        .when(~is_string_text, F.lit("non_string_text"))
        .when(F.col("j.id").isNull() | (F.trim("j.id") == ""), F.lit("missing_id"))
    )
    docs = parsed.select(
        F.col("j.id").alias("id"), F.col("j.url").alias("url"), F.col("j.text").alias("text"),
        F.col("_source").alias("source"), read_error.alias("read_error"), F.col("value").alias("raw"), "_pos",
    )
    return mark_duplicate_ids(docs)


def mark_duplicate_ids(docs: DataFrame) -> DataFrame:
    """A repeated id keeps its first occurrence; the others are rejected, never silently merged."""
    from pyspark.sql.window import Window

    w = Window.partitionBy("id").orderBy("source", "_pos")
    rank: Column = F.when(F.col("id").isNotNull(), F.row_number().over(w))
    return docs.withColumn(
        "read_error", F.coalesce("read_error", F.when(rank > 1, F.lit("duplicate_id")))
    ).drop("_pos")


def read_corpus(spark: SparkSession, cfg: InputConfig) -> DataFrame:
    if cfg.format == "jsonl":
        df = read_jsonl(spark, cfg)
    else:  # pragma: no cover - config validation keeps this out
        raise ValueError(f"unsupported input format {cfg.format}")
    return df.repartition(spark.sparkContext.defaultParallelism)
