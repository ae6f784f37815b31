"""Heuristic quality scores as native Spark column expressions (no Python UDF), then a decision.

Scores follow Gopher (Rae et al. 2021) and C4 practice; thresholds live in PrescreenConfig.
`score_documents` only adds columns; `decide` turns them into one `drop_reason` per row.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from ..config import PrescreenConfig

STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")


def _ratio(num: Column, den: Column) -> Column:
    return F.when(den > 0, num / den).otherwise(F.lit(0.0))


def score_documents(df: DataFrame) -> DataFrame:
    words = F.filter(F.split(F.coalesce("text", F.lit("")), r"\s+"), lambda w: w != "")
    lines = F.filter(F.split(F.coalesce("text", F.lit("")), r"\n"), lambda ln: F.trim(ln) != "")
    stop = F.array(*[F.lit(w) for w in STOP_WORDS])
    scored = (
        df.withColumn("_words", words).withColumn("_lines", lines)
        .withColumn("n_words", F.size("_words"))
        .withColumn("n_lines", F.size("_lines"))
        .withColumn("mean_word_length",
                    _ratio(F.aggregate("_words", F.lit(0), lambda acc, w: acc + F.length(w)), F.col("n_words")))
        .withColumn("symbol_word_ratio",
                    _ratio(F.size(F.filter("_words", lambda w: w.rlike(r"^(#|\.\.\.|…)"))), F.col("n_words")))
        .withColumn("alpha_word_ratio",
                    _ratio(F.size(F.filter("_words", lambda w: w.rlike("[A-Za-z]"))), F.col("n_words")))
        .withColumn("stop_words",
                    F.size(F.filter("_words", lambda w: F.array_contains(stop, F.lower(w)))))
        .withColumn("bullet_line_ratio",
                    _ratio(F.size(F.filter("_lines", lambda ln: ln.rlike(r"^\s*[•*\-‣●]"))), F.col("n_lines")))
        .withColumn("ellipsis_line_ratio",
                    _ratio(F.size(F.filter("_lines", lambda ln: ln.rlike(r"(\.\.\.|…)\s*$"))), F.col("n_lines")))
        .withColumn("duplicate_line_fraction",
                    _ratio(F.col("n_lines") - F.size(F.array_distinct("_lines")), F.col("n_lines")))
        .withColumn("doc_hash",
                    F.sha2(F.lower(F.regexp_replace(F.trim(F.coalesce("text", F.lit(""))), r"\s+", " ")), 256))
        .drop("_words", "_lines")
    )
    return scored


def heuristic_reason(cfg: PrescreenConfig) -> Column:
    """The first failed heuristic, or null when the document passes them all."""
    rules = [
        (F.col("n_words") < cfg.min_words, "too_few_words"),
        (F.col("n_words") > cfg.max_words, "too_many_words"),
        (F.col("mean_word_length") < cfg.min_mean_word_length, "short_mean_word_length"),
        (F.col("mean_word_length") > cfg.max_mean_word_length, "long_mean_word_length"),
        (F.col("symbol_word_ratio") > cfg.max_symbol_word_ratio, "symbol_ratio"),
        (F.col("alpha_word_ratio") < cfg.min_alpha_word_ratio, "low_alpha_ratio"),
        (F.col("stop_words") < cfg.min_stop_words, "few_stop_words"),
        (F.col("bullet_line_ratio") > cfg.max_bullet_line_ratio, "bullet_lines"),
        (F.col("ellipsis_line_ratio") > cfg.max_ellipsis_line_ratio, "ellipsis_lines"),
        (F.col("duplicate_line_fraction") > cfg.max_duplicate_line_fraction, "duplicate_lines"),
    ]
    expr = None
    for cond, reason in rules:
        expr = F.when(cond, F.lit(reason)) if expr is None else expr.when(cond, F.lit(reason))
    return expr


def decide(scored: DataFrame, cfg: PrescreenConfig) -> DataFrame:
    """Add drop_reason: read errors first, then heuristics, then exact duplicates (first id kept)."""
    candidate = F.col("read_error").isNull() & heuristic_reason(cfg).isNull()
    # Dedup only among documents that would otherwise be kept, so a rejected twin never wins.
    w = Window.partitionBy("doc_hash", candidate).orderBy("id")
    return scored.withColumn(
        "drop_reason",
        F.coalesce(
            F.col("read_error"),
            heuristic_reason(cfg),
            F.when(F.row_number().over(w) > 1, F.lit("exact_duplicate")),
        ),
    )


def split_kept(decided: DataFrame) -> tuple[DataFrame, DataFrame]:
    return decided.where(F.col("drop_reason").isNull()), decided.where(F.col("drop_reason").isNotNull())
