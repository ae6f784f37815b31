"""Instruction output -> candidates: the tolerant parser (instruction + `input`), FANNO's hard filter
(bugs fixed, instruction_rules.py), length limits, optional user keywords, and exact dedup against the
round and the pool; each drop a counted `drop_reason`."""

from __future__ import annotations

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.window import Window

from ..config import FilterConfig
from . import prompts
from .instruction_rules import hard_filter_reason

PARSED_INSTRUCTION = T.StructType([T.StructField("value", T.StringType()), T.StructField("input", T.StringType()),
                                   T.StructField("reason", T.StringType())])


def _parse_instruction_udf(min_words: int):
    @F.pandas_udf(PARSED_INSTRUCTION)
    def parse(text: pd.Series, avoid: pd.Series) -> pd.DataFrame:
        example = prompts.template("compact_seed_example_answer.txt")  # the compact one-shot, parroted back
        parsed = [prompts.split_instruction(t, [example, *(a if a is not None else ())], min_words)
                  for t, a in zip(text, avoid, strict=True)]
        return pd.DataFrame({"value": [p[0] for p in parsed], "input": [p[1] for p in parsed],
                             "reason": [p[2] for p in parsed]})
    return parse


def _hard_filter_udf(ascii_only: bool, require_request: bool):
    @F.pandas_udf(T.StringType())
    def rule(instruction: pd.Series, input_text: pd.Series) -> pd.Series:
        return pd.Series([hard_filter_reason(i, ascii_only, bool(x), require_request) if i is not None else None
                          for i, x in zip(instruction, input_text, strict=True)], dtype=object)
    return rule


def instruction_key(col: str = "instruction"):
    """Normalised text hash used for exact dedup of instructions across the whole pool."""
    return F.sha2(F.regexp_replace(F.lower(F.col(col)), r"[^a-z0-9]+", " "), 256)


def parse_and_filter_instructions(generated: DataFrame, pool: DataFrame | None, cfg: FilterConfig,
                                  round_no: int) -> DataFrame:
    """generated prompts -> candidates with `instruction`, `input` and a `drop_reason` (null = kept)."""
    n_words = F.size(F.split(F.trim(F.col("instruction")), r"\s+"))
    avoid = F.col("fewshot_texts") if "fewshot_texts" in generated.columns else F.array().cast("array<string>")
    df = (generated.withColumn("_p", _parse_instruction_udf(cfg.min_words)(F.col("text"), avoid))
          .withColumn("instruction", F.col("_p.value"))
          .withColumn("input", F.coalesce(F.col("_p.input"), F.lit("")))
          .withColumn("instruction_id", instruction_key())
          .withColumn("round", F.lit(round_no)))
    reason = (F.when(F.col("text").isNull(), F.lit("no_generation"))
              .when(F.col("_p.reason").isNotNull(), F.col("_p.reason"))
              .when(n_words < cfg.min_words, F.lit("too_short"))
              .when(n_words > cfg.max_words, F.lit("too_long")))
    if cfg.fanno_rules:
        rules = _hard_filter_udf(cfg.ascii_only, cfg.require_request)
        reason = reason.otherwise(rules(F.col("instruction"), F.col("input")))
    if cfg.banned_words:
        reason = F.coalesce(reason, F.when(F.col("instruction").rlike(prompts.banned_pattern(cfg.banned_words)),
                                           F.lit("banned_keyword")))
    df = df.withColumn("drop_reason", reason)
    dup_rank = F.row_number().over(Window.partitionBy("instruction_id", F.col("drop_reason").isNull())
                                   .orderBy("doc_id", "prompt_hash"))
    df = df.withColumn("drop_reason", F.coalesce("drop_reason", F.when(dup_rank > 1, F.lit("duplicate_in_round"))))
    if pool is not None:
        seen = pool.select("instruction_id").distinct().withColumn("_seen", F.lit(True))
        df = (df.join(seen, "instruction_id", "left")
              .withColumn("drop_reason", F.coalesce("drop_reason", F.when(F.col("_seen"), F.lit("duplicate_of_pool"))))
              .drop("_seen"))
    return df.drop("_p").withColumnRenamed("text", "raw_instruction_text").withColumnRenamed(
        "prompt_hash", "instruction_prompt_hash").withColumnRenamed(
        "completion_tokens", "instruction_tokens").drop("conversation", "finish_reason", "prompt_tokens",
                                                        "fewshot_texts")
