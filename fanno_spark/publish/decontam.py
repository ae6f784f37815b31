"""Decontamination against evaluation prompts: word n-gram overlap found by a Spark join on hashed
n-grams (no all-pairs comparison).

Words: lower-cased runs of letters/digits (punctuation and case never hide a copy). A text is
contaminated when it shares one n-gram (n = 13 by default, the common practice since GPT-3) with a
benchmark prompt. A benchmark prompt shorter than n words (many AlpacaEval / MT-Bench prompts are)
matches as a whole, if it has at least `min_words` words; shorter ones are skipped and counted.
A copy with a word or two changed still matches as long as n consecutive words survive.
"""

from __future__ import annotations

import re

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from ..config import DecontamConfig
from ..decide import drop_if
from ..fs import FileSystem
from ..io.readers import InputError

GRAM_SCHEMA = "gram long, benchmark string, bench_row long"


class BenchmarkError(InputError):
    """A benchmark file that cannot be used: one line, before any stage runs."""


def words(text: Column) -> Column:
    toks = F.split(F.lower(F.regexp_replace(F.coalesce(text, F.lit("")), r"[^\p{L}\p{N}]+", " ")), " ")
    return F.filter(toks, lambda w: w != "")


def gram_hashes(ws: Column, n: int) -> Column:
    """xxhash64 of every n-word window of ws (empty when ws is shorter)."""
    grams = F.transform(F.sequence(F.lit(0), F.size(ws) - n),
                        lambda i: F.xxhash64(F.concat_ws(" ", F.slice(ws, i + 1, n))))
    return F.when(F.size(ws) >= n, grams).otherwise(F.array().cast("array<bigint>"))


def benchmark_name(path: str) -> str:
    base = path.rstrip("/").rsplit("/", 1)[-1]
    return re.sub(r"(\.(jsonl|json|ndjson|parquet|txt|gz))+$", "", base, flags=re.IGNORECASE) or base


def _read_one(spark: SparkSession, path: str, fs: FileSystem, field: str) -> DataFrame:
    files = fs.find(path)
    if not files:
        raise BenchmarkError(f"decontam.benchmarks: {path} does not exist or holds no files")
    lower = [f.lower() for f in files]
    if all(f.endswith(".parquet") for f in lower):
        df = spark.read.parquet(*files)
    elif all(f.endswith((".txt", ".txt.gz")) for f in lower):
        df = spark.read.text(files).withColumnRenamed("value", field)
    elif all(f.endswith((".jsonl", ".jsonl.gz", ".json", ".json.gz", ".ndjson")) for f in lower):
        df = spark.read.json(files)
    else:
        raise BenchmarkError(f"decontam.benchmarks: {path}: use .jsonl/.json, .parquet or .txt files (one kind)")
    if field not in df.columns:
        raise BenchmarkError(f"decontam.benchmarks: {path} has no field {field!r} (fields: {', '.join(df.columns)}); "
                             "set decontam.prompt_field")
    kind = dict(df.dtypes)[field]
    if not (kind == "string" or kind.startswith("array")):
        raise BenchmarkError(f"decontam.benchmarks: {path}: field {field!r} is {kind}, not text")
    return df.select(field)


def _numbered(spark: SparkSession, path: str, fs: FileSystem, field: str) -> DataFrame:
    df = _read_one(spark, path, fs, field)
    kind = dict(df.dtypes)[field]
    # Row numbers in file order: what the card and the rejects name ("alpaca_eval:41").
    numbered = spark.createDataFrame(df.select(field).rdd.zipWithIndex().map(lambda t: (t[1], t[0][0])),
                                     f"bench_row long, value {kind}")
    if kind.startswith("array"):  # MT-Bench style: a list of turns, each a prompt
        numbered = numbered.select("bench_row", F.explode_outer("value").alias("value"))
    return numbered.select(F.lit(benchmark_name(path)).alias("benchmark"), "bench_row",
                           F.col("value").alias("bench_text"))


def check_benchmarks(spark: SparkSession, cfg: DecontamConfig, fs: FileSystem) -> None:
    """Every file readable and holding the field (BenchmarkError otherwise): run before the first stage."""
    for p in cfg.benchmarks:
        _read_one(spark, p, fs, cfg.prompt_field)


def load_benchmarks(spark: SparkSession, cfg: DecontamConfig, fs: FileSystem) -> DataFrame:
    """(benchmark, bench_row, bench_text) of every configured file/folder."""
    frames = [_numbered(spark, p, fs, cfg.prompt_field) for p in cfg.benchmarks]
    out = frames[0]
    for f in frames[1:]:
        out = out.unionByName(f)
    return out.where(F.col("bench_text").isNotNull())


def benchmark_grams(bench: DataFrame, cfg: DecontamConfig) -> tuple[DataFrame, list[int], dict[str, int]]:
    """(gram, benchmark, bench_row) with one row per distinct gram, the gram lengths texts must be cut
    into, and per benchmark: prompts indexed and prompts too short to use."""
    n = cfg.ngram
    w = bench.withColumn("w", words("bench_text")).withColumn("m", F.size("w"))
    stats = {f"{r['benchmark']}.{k}": int(r[k]) for r in w.groupBy("benchmark").agg(
        F.sum((F.col("m") >= cfg.min_words).cast("int")).alias("prompts"),
        F.sum((F.col("m") < cfg.min_words).cast("int")).alias("too_short")).collect() for k in ("prompts", "too_short")}
    usable = w.where(F.col("m") >= cfg.min_words)
    lengths = sorted({n} | {int(r["m"]) for r in usable.where(F.col("m") < n).select("m").distinct().collect()})
    grams = usable.select("benchmark", "bench_row", F.explode(
        F.when(F.col("m") >= n, gram_hashes(F.col("w"), n)).otherwise(F.array(F.xxhash64(F.concat_ws(" ", "w")))))
        .alias("gram"))
    # one benchmark row per gram (the first by name and row), so a join never multiplies a text
    first = grams.groupBy("gram").agg(F.min(F.struct("benchmark", "bench_row")).alias("b"))
    return first.select("gram", "b.benchmark", "b.bench_row"), lengths, stats


def text_grams(df: DataFrame, key: str, columns: tuple[str, ...], lengths: list[int]) -> DataFrame:
    """(key, gram) of every window of each length over each column (a window never spans two columns)."""
    per_col = [gram_hashes(words(F.col(c)), n) for c in columns for n in lengths]
    return df.select(key, F.explode(F.flatten(F.array(*per_col))).alias("gram")).distinct()


def mark_contaminated(df: DataFrame, key: str, columns: tuple[str, ...], grams: DataFrame,
                      lengths: list[int]) -> DataFrame:
    """df + contaminated_by ("benchmark:row" of the first match); drop_reason = contaminated for rows
    still alive that match. Rows already dropped keep their reason."""
    alive = df.where(F.col("drop_reason").isNull()) if "drop_reason" in df.columns else df
    hits = (text_grams(alive, key, columns, lengths).join(F.broadcast(grams), "gram")
            .groupBy(key).agg(F.min(F.struct("benchmark", "bench_row")).alias("b"))
            .select(key, F.concat_ws(":", "b.benchmark", F.col("b.bench_row").cast("string")).alias("contaminated_by")))
    return drop_if(df.join(hits, key, "left"), F.when(F.col("contaminated_by").isNotNull(), F.lit("contaminated")))


def per_benchmark(marked: DataFrame) -> dict[str, int]:
    """{benchmark: rows dropped as contaminated} (one job)."""
    rows = (marked.where(F.col("drop_reason") == "contaminated")
            .groupBy(F.regexp_extract("contaminated_by", r"^(.*):\d+$", 1).alias("b")).count().collect())
    return {r["b"]: int(r["count"]) for r in rows}
