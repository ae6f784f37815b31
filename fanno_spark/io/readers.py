"""Corpus readers -> one normalised schema: id, url, text, source, read_error (null = readable), raw.

Every reader keeps what it cannot use as a row with a `read_error` reason, so the accounting
`read = kept + rejected` holds; nothing is dropped on the floor and nothing crashes the job.
"""

from __future__ import annotations

import gzip

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.window import Window

from ..config import InputConfig
from ..fs import FileSystem, LocalFS
from .warc import WARC_SCHEMA, WARC_SUFFIXES, read_warc_files

DOC_COLUMNS = ["id", "url", "text", "source", "read_error", "raw"]

# C0/C1 control characters other than tab/newline/CR, and bidi overrides/isolates that can make
# a prompt display differently from what the model reads. They are removed, never kept in text.
_INVISIBLE = r"[\p{Cc}&&[^\n\t\r]]|[\x{200E}\x{200F}\x{202A}-\x{202E}\x{2066}-\x{2069}\x{FEFF}]"


class InputError(ValueError):
    """The input cannot be read at all (missing path, wrong columns): stop before any work."""


def detect_format(path: str, fs: FileSystem | None = None) -> str:
    """By extension of the path, or of the files in it (listed through fs: any Hadoop URI)."""
    fs = fs or LocalFS()
    names = [path]
    if fs.is_dir(path):
        names = [f.rsplit("/", 1)[-1] for f in fs.find(path)]
        if not names:
            raise InputError(f"input.path: {path} is an empty folder")
    for name in names:
        n = name.lower()
        if n.endswith(WARC_SUFFIXES):
            return "warc"
        if n.endswith(".parquet"):
            return "parquet"
        if n.endswith((".jsonl", ".jsonl.gz", ".json", ".json.gz", ".ndjson")):
            return "jsonl"
        if n.endswith((".txt", ".txt.gz", ".md")):
            return "text"
    raise InputError(f"input.path: cannot tell the format of {path}; set input.format")


def read_jsonl(spark: SparkSession, cfg: InputConfig, fs: FileSystem) -> DataFrame:
    """JSON Lines (optionally .gz). Broken lines and unusable records are kept with a read_error."""
    raw = (spark.read.text(cfg.path).withColumn("_source", F.input_file_name())
           .withColumn("_pos", F.monotonically_increasing_id()))  # input order, for "first id wins"
    # Invalid UTF-8 becomes U+FFFD here (counted as undecodable_bytes below); left as is, the bad bytes
    # would reach the rejects' `raw` column and make it unreadable for Arrow/pandas.
    raw = raw.withColumn("value", F.decode(F.col("value").cast("binary"), "UTF-8"))
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
    return parsed.select(
        F.col("j.id").alias("id"), F.col("j.url").alias("url"), F.col("j.text").alias("text"),
        F.col("_source").alias("source"), read_error.alias("read_error"), F.col("value").alias("raw"), "_pos",
    ).unionByName(empty_files(spark, fs, cfg.path))


def read_parquet(spark: SparkSession, cfg: InputConfig, fs: FileSystem) -> DataFrame:
    df = spark.read.parquet(cfg.path)
    fields = {f.name: f.dataType for f in df.schema.fields}
    if cfg.text_column not in fields:
        raise InputError(f"input.text_column: {cfg.path} has no column {cfg.text_column!r} "
                         f"(columns: {', '.join(fields)})")
    if not isinstance(fields[cfg.text_column], T.StringType):
        raise InputError(f"input.text_column: {cfg.text_column!r} is {fields[cfg.text_column].simpleString()}, "
                         "not a string")
    if cfg.max_docs:
        df = df.limit(cfg.max_docs)
    df = df.withColumn("_source", F.input_file_name()).withColumn("_pos", F.monotonically_increasing_id())
    text = F.col(cfg.text_column)
    # Without an id column a document is named by its content, which is stable across reruns.
    doc_id = (F.col(cfg.id_column).cast("string") if cfg.id_column in fields
              else F.substring(F.sha2(F.coalesce(text, F.lit("")), 256), 1, 20))
    url = F.col(cfg.url_column).cast("string") if cfg.url_column in fields else F.lit(None).cast("string")
    read_error = (F.when(text.isNull(), F.lit("missing_text"))
                  .when(doc_id.isNull() | (F.trim(doc_id) == ""), F.lit("missing_id")))
    return df.select(doc_id.alias("id"), url.alias("url"), text.alias("text"), F.col("_source").alias("source"),
                     read_error.alias("read_error"), F.lit(None).cast("string").alias("raw"), "_pos")


def _empty_gzip(fs: FileSystem, uri: str) -> bool:
    try:
        return gzip.decompress(fs.read_bytes(uri)) == b""
    except (OSError, EOFError):  # a broken member is not empty: the reader counts it
        return False


def empty_files(spark: SparkSession, fs: FileSystem, path: str, suffixes: tuple[str, ...] = ()) -> DataFrame:
    """Files without content under path (zero bytes, or a gzip member that inflates to nothing) as reject
    rows: Spark's file sources skip them without a trace."""
    found = []
    for uri, size in fs.walk(fs.qualify(path)):
        base = uri.rsplit("/", 1)[-1]
        empty = size == 0 or (base.endswith(".gz") and size < 64 and _empty_gzip(fs, uri))
        if empty and (not suffixes or base.endswith(suffixes)):
            found.append((uri, None, None, uri, "empty_file", None, 0))
    return spark.createDataFrame(found, "id string, url string, text string, source string, read_error string, "
                                        "raw string, _pos long")


def read_text_files(spark: SparkSession, cfg: InputConfig, fs: FileSystem) -> DataFrame:
    """A folder of plain-text files, one document per file, named by its path.

    binaryFile (not text/wholetext) so an empty file is still a row, and bytes that are not UTF-8
    become U+FFFD, which validate_text counts as undecodable_bytes.
    """
    df = spark.read.format("binaryFile").option("recursiveFileLookup", "true").load(cfg.path)
    if cfg.max_docs:
        df = df.limit(cfg.max_docs)
    docs = df.select(F.col("path").alias("id"), F.lit(None).cast("string").alias("url"),
                     F.decode("content", "UTF-8").alias("text"), F.col("path").alias("source"),
                     F.lit(None).cast("string").alias("read_error"), F.lit(None).cast("string").alias("raw"),
                     F.monotonically_increasing_id().alias("_pos"))
    return docs.unionByName(empty_files(spark, fs, cfg.path))


def read_warc(spark: SparkSession, cfg: InputConfig, fs: FileSystem) -> DataFrame:
    """WARC/WET files: the file list is distributed, each task streams its files (no whole-file rows)."""
    files = (spark.read.format("binaryFile").option("recursiveFileLookup", "true")
             .option("pathGlobFilter", "*{" + ",".join(WARC_SUFFIXES) + "}")
             .load(cfg.path).select("path").distinct())
    n = files.count()
    if n == 0:
        raise InputError(f"input.path: no {'/'.join(WARC_SUFFIXES)} files under {cfg.path}")
    docs = files.repartition(min(n, 4 * spark.sparkContext.defaultParallelism)).mapInPandas(
        read_warc_files(cfg.max_doc_chars), WARC_SCHEMA)
    if cfg.max_docs:
        docs = docs.limit(cfg.max_docs)
    return docs.withColumn("_pos", F.monotonically_increasing_id()).unionByName(
        empty_files(spark, fs, cfg.path, WARC_SUFFIXES))


def replacement_ratio(text: Column) -> Column:
    """Share of U+FFFD characters (0 for an empty text)."""
    n = F.length(text)
    return F.when(n > 0, (n - F.length(F.regexp_replace(text, "\ufffd", ""))) / n).otherwise(F.lit(0.0))


def validate_text(docs: DataFrame, cfg: InputConfig) -> DataFrame:
    """Reasons that apply to every format: too large, undecodable bytes, nothing left after cleaning."""
    cleaned = F.regexp_replace(F.col("text"), _INVISIBLE, "")
    too_large = F.length("text") > cfg.max_doc_chars
    error = F.coalesce(
        F.col("read_error"),
        F.when(too_large, F.lit("too_large")),
        F.when(replacement_ratio(F.col("text")) > cfg.max_replacement_ratio, F.lit("undecodable_bytes")),
        F.when(F.col("text").isNotNull() & cleaned.rlike(r"^\s*$"), F.lit("empty_text")),
    )
    # A rejected giant keeps only its head: enough to inspect, without carrying megabytes downstream.
    text = F.when(too_large, F.substring("text", 1, 10_000)).otherwise(cleaned)
    return docs.withColumn("read_error", error).withColumn("text", text)


def mark_duplicate_ids(docs: DataFrame) -> DataFrame:
    """A repeated id keeps its first occurrence; the others are rejected, never silently merged."""
    w = Window.partitionBy("id").orderBy("source", "_pos")
    rank: Column = F.when(F.col("id").isNotNull(), F.row_number().over(w))
    return docs.withColumn(
        "read_error", F.coalesce("read_error", F.when(rank > 1, F.lit("duplicate_id")))
    ).drop("_pos")


READERS = {"jsonl": read_jsonl, "parquet": read_parquet, "text": read_text_files, "warc": read_warc}


def read_corpus(spark: SparkSession, cfg: InputConfig, fs: FileSystem) -> DataFrame:
    """The corpus at cfg.path, listed and probed through fs (the run's filesystem layer)."""
    fmt = detect_format(cfg.path, fs) if cfg.format == "auto" else cfg.format
    df = mark_duplicate_ids(validate_text(READERS[fmt](spark, cfg, fs), cfg))
    return df.select(*DOC_COLUMNS).repartition(spark.sparkContext.defaultParallelism)
