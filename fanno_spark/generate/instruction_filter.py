"""Instruction output -> candidates: the tolerant parser (instruction + `input`), FANNO's hard filter
(bugs fixed, instruction_rules.py), length limits, optional user keywords, and exact dedup against the
round and the pool; each drop a counted `drop_reason`."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from ..config import FilterConfig
from ..decide import drop_if
from . import prompts
from .instruction_rules import hard_filter_reason, has_placeholder


def instruction_verdict(text: str | None, finish_reason: str | None, avoid: list[str] | tuple[str, ...],
                        cfg: FilterConfig) -> tuple[str | None, str | None, str | None]:
    """One generated text -> (instruction, input, drop_reason or None): the parser, the length limits and the
    rules, in that order. The stage and the labelled-corpus test both run this one function."""
    if text is None:
        return None, None, "no_generation"
    instruction, input_text, reason = prompts.split_instruction(text, avoid, cfg.min_words)
    if reason is not None:
        return instruction, input_text, reason
    reason = _rule_reason(instruction, input_text, cfg)
    # cut by max_tokens inside what is kept (not in an answer after it): only a request worth keeping says so
    if reason is None and finish_reason == "length" and prompts.split_instruction(text, avoid, cfg.min_words,
                                                                                   "length")[2] == "truncated":
        reason = "truncated"
    return instruction, input_text, reason


def _rule_reason(instruction: str, input_text: str | None, cfg: FilterConfig) -> str | None:
    n_words = len(instruction.split())
    if n_words < cfg.min_words:
        return "too_short"
    if n_words > cfg.max_words:
        return "too_long"
    if has_placeholder(instruction) or (input_text and has_placeholder(input_text)):
        return "placeholder"
    if cfg.fanno_rules:
        return hard_filter_reason(instruction, cfg.ascii_only, bool(input_text), cfg.require_request)
    return None


def instruction_key(col: str = "instruction", input_col: str = "input"):
    """Normalised text hash used for exact dedup across the whole pool: the instruction with its input, so
    one "Translate the following sentence:" over two sentences is two requests."""
    norm = lambda c: F.regexp_replace(F.lower(F.coalesce(F.col(c), F.lit(""))), r"[^a-z0-9]+", " ")  # noqa: E731
    return F.when(F.col(col).isNotNull(), F.sha2(F.concat_ws("\u0001", norm(col), norm(input_col)), 256))


def filter_instructions(parsed: DataFrame, pool: DataFrame | None, cfg: FilterConfig, round_no: int) -> DataFrame:
    """parsed instruction answers (instruction, input, drop_reason from instruction_verdict) -> candidates with
    instruction_id, round and the frame-level rules: banned keywords, duplicates in the round and of the pool."""
    df = (parsed.withColumn("input", F.coalesce(F.col("input"), F.lit("")))
          .withColumn("instruction_id", instruction_key())
          .withColumn("round", F.lit(round_no)))
    rules = []
    if cfg.banned_words:
        rules.append(F.when(F.col("instruction").rlike(prompts.banned_pattern(cfg.banned_words)),
                            F.lit("banned_keyword")))
    df = drop_if(df, *rules)
    dup_rank = F.row_number().over(Window.partitionBy("instruction_id", F.col("drop_reason").isNull())
                                   .orderBy("doc_id", "prompt_hash"))
    df = drop_if(df, F.when(dup_rank > 1, F.lit("duplicate_in_round")))
    if pool is not None:
        seen = pool.select("instruction_id").distinct().withColumn("_seen", F.lit(True))
        df = drop_if(df.join(seen, "instruction_id", "left"), F.when(F.col("_seen"), F.lit("duplicate_of_pool")))
        df = df.drop("_seen")
    return df.withColumnRenamed("text", "raw_instruction_text").withColumnRenamed(
        "prompt_hash", "instruction_prompt_hash").withColumnRenamed(
        "completion_tokens", "instruction_tokens").drop("conversation", "finish_reason", "prompt_tokens",
                                                        "fewshot_texts")
