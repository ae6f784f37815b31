"""Heuristic quality scores as native Spark column expressions (no Python UDF), then a decision.

Scores follow Gopher (Rae et al. 2021, table A1) and C4 (Raffel et al. 2020); thresholds live in
PrescreenConfig. `score_documents` only adds columns; `decide` turns them into one `drop_reason`.
Two scores run in Python, each for a measured reason: language ID (`language.py`; Spark SQL has no
classifier) and the n-gram repetition counts (`repetition.py`; see there for the timings).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from ..config import PrescreenConfig
from .repetition import DUP_NGRAMS, TOP_NGRAMS, repetition_scores

STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")  # Gopher's list


def _ratio(num: Column, den: Column) -> Column:
    return F.when(den > 0, num / den).otherwise(F.lit(0.0))


def _sum_lengths(arr: Column) -> Column:
    return F.aggregate(arr, F.lit(0), lambda acc, s: acc + F.length(s))


def _dup_count_and_chars(items: Column) -> tuple[Column, Column]:
    """Gopher's find_duplicates: elements seen before, and their characters."""
    distinct = F.array_distinct(items)
    return F.size(items) - F.size(distinct), _sum_lengths(items) - _sum_lengths(distinct)


def score_documents(df: DataFrame) -> DataFrame:
    text = F.coalesce("text", F.lit(""))
    words = F.filter(F.split(text, r"\s+"), lambda w: w != "")
    lines = F.filter(F.split(text, r"\n"), lambda ln: F.trim(ln) != "")
    stop = F.array(*[F.lit(w) for w in STOP_WORDS])
    scored = (
        df.withColumn("_words", words).withColumn("_lines", lines)
        .withColumn("_lower", F.transform("_words", F.lower))
        .withColumn("_paras", F.split(F.trim(text), r"\n{2,}"))
        .withColumn("_rlines", F.split(text, r"\n+"))
        .withColumn("n_chars", F.length(text))
        .withColumn("n_words", F.size("_words"))
        .withColumn("n_lines", F.size("_lines"))
        .withColumn("mean_word_length", _ratio(_sum_lengths(F.col("_words")), F.col("n_words")))
        .withColumn("symbol_word_ratio",
                    _ratio(F.size(F.filter("_words", lambda w: w.rlike(r"^(#|\.\.\.|…)"))), F.col("n_words")))
        .withColumn("alpha_word_ratio",
                    _ratio(F.size(F.filter("_words", lambda w: w.rlike("[^\\W\\d_]"))), F.col("n_words")))
        .withColumn("stop_words", F.size(F.filter("_lower", lambda w: F.array_contains(stop, w))))
        .withColumn("bullet_line_ratio",
                    _ratio(F.size(F.filter("_lines", lambda ln: ln.rlike(r"^\s*[•*\-‣●]"))), F.col("n_lines")))
        .withColumn("ellipsis_line_ratio",
                    _ratio(F.size(F.filter("_lines", lambda ln: ln.rlike(r"(\.\.\.|…)\s*$"))), F.col("n_lines")))
    )
    para_dups, para_dup_chars = _dup_count_and_chars(F.col("_paras"))
    line_dups, line_dup_chars = _dup_count_and_chars(F.col("_rlines"))
    scored = (
        scored
        .withColumn("duplicate_paragraph_fraction", _ratio(para_dups, F.size("_paras")))
        .withColumn("duplicate_paragraph_char_fraction", _ratio(para_dup_chars, F.col("n_chars")))
        .withColumn("duplicate_line_fraction", _ratio(line_dups, F.size("_rlines")))
        .withColumn("duplicate_line_char_fraction", _ratio(line_dup_chars, F.col("n_chars")))
    )
    scored = scored.withColumn("_rep", repetition_scores(text))
    for n in TOP_NGRAMS:
        scored = scored.withColumn(f"top_{n}gram_char_fraction", _ratio(F.col(f"_rep.top_{n}"), F.col("n_chars")))
    for n in DUP_NGRAMS:
        scored = scored.withColumn(f"dup_{n}gram_char_fraction", _ratio(F.col(f"_rep.dup_{n}"), F.col("n_chars")))
    # C4, at document level: sentences in lines that end like prose; lorem ipsum; curly brackets.
    prose_lines = F.filter("_lines", lambda ln: ln.rlike(r"[.!?][\"')\]]?\s*$") & (
        F.size(F.split(F.trim(ln), r"\s+")) >= 3))
    return (
        scored
        .withColumn("c4_sentences", F.aggregate(
            prose_lines, F.lit(0), lambda acc, ln: acc + F.size(F.split(ln, r"[.!?][\"')\]]?(\s+|$)")) - 1))
        .withColumn("has_lorem_ipsum", F.lower(text).contains("lorem ipsum"))
        .withColumn("has_curly_bracket", text.contains("{"))
        .withColumn("doc_hash", F.sha2(F.lower(F.regexp_replace(F.trim(text), r"\s+", " ")), 256))
        .drop("_words", "_lines", "_lower", "_paras", "_rlines", "_rep")
    )


def heuristic_rules(cfg: PrescreenConfig) -> list[tuple[Column, str]]:
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
        (F.col("duplicate_paragraph_fraction") > cfg.max_duplicate_paragraph_fraction, "duplicate_paragraphs"),
        (F.col("duplicate_paragraph_char_fraction") > cfg.max_duplicate_paragraph_char_fraction,
         "duplicate_paragraph_chars"),
        (F.col("duplicate_line_fraction") > cfg.max_duplicate_line_fraction, "duplicate_lines"),
        (F.col("duplicate_line_char_fraction") > cfg.max_duplicate_line_char_fraction, "duplicate_line_chars"),
    ]
    rules += [(F.col(f"top_{n}gram_char_fraction") > limit, f"top_{n}gram")
              for n, limit in zip(TOP_NGRAMS, cfg.max_top_ngram_char_fractions, strict=True)]
    rules += [(F.col(f"dup_{n}gram_char_fraction") > limit, f"duplicate_{n}grams")
              for n, limit in zip(DUP_NGRAMS, cfg.max_dup_ngram_char_fractions, strict=True)]
    rules.append((F.col("c4_sentences") < cfg.min_sentences, "few_sentences"))
    if cfg.filter_lorem_ipsum:
        rules.append((F.col("has_lorem_ipsum"), "lorem_ipsum"))
    if cfg.filter_curly_bracket:
        rules.append((F.col("has_curly_bracket"), "curly_bracket"))
    if cfg.languages:  # before stop words and repetition, which assume the configured languages
        rules.insert(6, (~F.col("language").isin(*cfg.languages) | F.col("language").isNull()
                         | (F.col("language_score") < cfg.min_language_score), "language"))
    return rules


def heuristic_reason(cfg: PrescreenConfig) -> Column:
    """The first failed heuristic, or null when the document passes them all."""
    expr = None
    for cond, reason in heuristic_rules(cfg):
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
