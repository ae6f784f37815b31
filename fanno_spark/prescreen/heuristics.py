"""Heuristic quality scores as columns, then a decision.

Scores follow Gopher (Rae et al. 2021, table A1) and C4 (Raffel et al. 2020) as datatrove 0.10 implements them
(`gopher_c4.py` counts them in one pandas UDF, on whitespace words or spaCy's English tokens per
`prescreen.tokenizer`); thresholds live in PrescreenConfig. `score_documents` only adds columns; `decide` turns
them into one `drop_reason`. Language ID runs in Python too (`language.py`; Spark SQL has no classifier).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from ..config import PrescreenConfig
from .gopher_c4 import DUP_NGRAMS, TOP_NGRAMS, gopher_c4_counts


def _ratio(num: Column, den: Column) -> Column:
    return F.when(den > 0, num / den).otherwise(F.lit(0.0))


def score_documents(df: DataFrame, tokenizer: str = "whitespace") -> DataFrame:
    text = F.coalesce("text", F.lit(""))
    c = F.col("_g")
    scored = (
        df.withColumn("_g", gopher_c4_counts(text, tokenizer))
        .withColumn("n_chars", F.length(text))
        .withColumn("n_tokens", c.n_tokens)
        .withColumn("n_words", c.n_words)  # words with a character that is not punctuation
        .withColumn("n_lines", c.n_lines)
        .withColumn("mean_word_length", _ratio(c.word_chars, c.n_words))
        .withColumn("symbol_word_ratio", F.greatest(_ratio(c.hashes, c.n_tokens), _ratio(c.ellipses, c.n_tokens)))
        .withColumn("alpha_word_ratio", _ratio(c.alpha_tokens, c.n_tokens))
        .withColumn("stop_words", c.stop_words)  # distinct Gopher stop words present
        .withColumn("bullet_line_ratio", _ratio(c.bullet_lines, c.n_lines))
        .withColumn("ellipsis_line_ratio", _ratio(c.ellipsis_lines, c.n_lines))
        .withColumn("duplicate_paragraph_fraction", _ratio(c.dup_paragraphs, c.paragraphs))
        .withColumn("duplicate_paragraph_char_fraction", _ratio(c.dup_paragraph_chars, F.col("n_chars")))
        .withColumn("duplicate_line_fraction", _ratio(c.dup_lines, c.rep_lines))
        .withColumn("duplicate_line_char_fraction", _ratio(c.dup_line_chars, F.col("n_chars")))
    )
    for n in TOP_NGRAMS:
        scored = scored.withColumn(f"top_{n}gram_char_fraction", _ratio(c[f"top_{n}"], F.col("n_chars")))
    for n in DUP_NGRAMS:
        scored = scored.withColumn(f"dup_{n}gram_char_fraction", _ratio(c[f"dup_{n}"], F.col("n_chars")))
    # C4's line pass: sentences of the lines it keeps; lorem ipsum / a curly bracket in such a line
    return (
        scored
        .withColumn("c4_sentences", c.c4_sentences)
        .withColumn("has_lorem_ipsum", c.c4_lorem)
        .withColumn("has_curly_bracket", c.c4_curly)
        .drop("_g")
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
    text = F.coalesce("text", F.lit(""))
    scored = scored.withColumn("doc_hash", F.sha2(F.lower(F.regexp_replace(F.trim(text), r"\s+", " ")), 256))
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
