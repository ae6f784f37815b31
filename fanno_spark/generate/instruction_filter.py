"""Instruction output -> candidates: the tolerant parser, the rule filter and exact dedup against the
round and the pool, each drop a counted `drop_reason`."""

from __future__ import annotations

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ..config import FilterConfig
from . import prompts


def _parse_instruction_udf(min_words: int):
    @F.pandas_udf(prompts.PARSED)
    def parse(text: pd.Series, avoid: pd.Series) -> pd.DataFrame:
        example = prompts.template("seed_example_answer.txt")  # the one-shot answer, parroted back
        parsed = [prompts.parse_instruction(t, [example, *(a if a is not None else ())], min_words)
                  for t, a in zip(text, avoid, strict=True)]
        return pd.DataFrame({"value": [p[0] for p in parsed], "reason": [p[1] for p in parsed]})
    return parse


def instruction_key(col: str = "instruction"):
    """Normalised text hash used for exact dedup of instructions across the whole pool."""
    return F.sha2(F.regexp_replace(F.lower(F.col(col)), r"[^a-z0-9]+", " "), 256)


def parse_and_filter_instructions(generated: DataFrame, pool: DataFrame | None, cfg: FilterConfig,
                                  round_no: int) -> DataFrame:
    """generated prompts -> candidates with `instruction` and a `drop_reason` (null = kept)."""
    from pyspark.sql.window import Window

    n_words = F.size(F.split(F.trim(F.col("instruction")), r"\s+"))
    avoid = F.col("fewshot_texts") if "fewshot_texts" in generated.columns else F.array().cast("array<string>")
    df = (generated.withColumn("_p", _parse_instruction_udf(cfg.min_words)(F.col("text"), avoid))
          .withColumn("instruction", F.col("_p.value"))
          .withColumn("instruction_id", instruction_key())
          .withColumn("round", F.lit(round_no)))
    reason = (F.when(F.col("text").isNull(), F.lit("no_generation"))
              .when(F.col("_p.reason").isNotNull(), F.col("_p.reason"))
              .when(n_words < cfg.min_words, F.lit("too_short"))
              .when(n_words > cfg.max_words, F.lit("too_long"))
              .when(F.col("instruction").rlike(prompts.banned_pattern(cfg.banned_words)), F.lit("banned_keyword")))
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
