"""Optional judge of final pairs (1-5). Greedy, one token, read from the first token's top-k
log-probabilities as the expected score over the digits 1..5 (a weak model rarely puts all its mass
on one digit); when no digit is among them, the generated text is searched for one. Pure parser +
prompt builder here; pairs below `judge.min_score` are kept aside with reason low_judge_score."""

from __future__ import annotations

import json
import re
from string import Template

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ..config import JudgeConfig
from ..llm.engine import Sampling, prompt_hash, token_mass
from .prompts import template

DIGIT = re.compile(r"(?<![\d.])([1-5])(?!\.?\d)")
TAG = re.compile(r"</?\s*(instruction|response)\s*>", re.IGNORECASE)


def judge_sampling(cfg: JudgeConfig) -> Sampling:
    return Sampling(max_tokens=1, temperature=0.0, top_p=1.0, seed=0, logprobs=cfg.top_logprobs)


def judge_conversation(instruction: str, response: str, max_chars: int) -> str:
    def clean(t: str) -> str:  # neither side can close its block
        return TAG.sub("[tag]", (t or "")[:max_chars])
    user = Template(template("judge_pair.txt")).substitute(instruction=clean(instruction), response=clean(response))
    return json.dumps([{"role": "user", "content": user}], ensure_ascii=False)


def parse_score(text: str | None, logprobs_json: str | None) -> tuple[float | None, str | None]:
    """-> (score in [1, 5], None) or (None, reason)."""
    mass = {int(t): p for t, p in token_mass(logprobs_json).items() if t in {"1", "2", "3", "4", "5"}}
    total = sum(mass.values())
    if total > 0:
        return sum(d * p for d, p in mass.items()) / total, None
    m = DIGIT.search(text or "")
    if m:
        return float(m.group(1)), None
    return None, "judge_unparseable"


_SCORED = T.StructType([T.StructField("score", T.DoubleType()), T.StructField("reason", T.StringType())])


@F.pandas_udf(_SCORED)
def _parse_score_udf(text, logprobs):
    import pandas as pd

    parsed = [parse_score(t, lp) for t, lp in zip(text, logprobs, strict=True)]
    return pd.DataFrame({"score": [p[0] for p in parsed], "reason": [p[1] for p in parsed]})


def judge_prompts(pairs: DataFrame, model: str, sampling: Sampling, max_chars: int) -> DataFrame:
    """Valid pairs -> (instruction_id, prompt_hash, conversation)."""
    conv = F.udf(lambda i, o: judge_conversation(i, o, max_chars), T.StringType())
    phash = F.udf(lambda c: prompt_hash(model, sampling, json.loads(c)), T.StringType())
    return (pairs.where(F.col("drop_reason").isNull()).select("instruction_id", "instruction", "output")
            .withColumn("conversation", conv("instruction", "output"))
            .withColumn("prompt_hash", phash("conversation")).select("instruction_id", "prompt_hash", "conversation"))


def apply_scores(pairs: DataFrame, generated: DataFrame, cfg: JudgeConfig) -> DataFrame:
    """pairs + judged generations -> pairs with judge_score, judge_error and low scores dropped."""
    scores = (generated.withColumn("_s", _parse_score_udf(F.col("text"), F.col("logprobs")))
              .select("instruction_id", F.col("_s.score").alias("judge_score"),
                      F.col("_s.reason").alias("judge_error"), F.col("prompt_hash").alias("judge_prompt_hash"))
              .dropDuplicates(["instruction_id"]))
    df = pairs.join(scores, "instruction_id", "left")
    low = F.when(F.col("judge_score") < cfg.min_score, F.lit("low_judge_score"))
    return df.withColumn("drop_reason", F.coalesce(F.col("drop_reason"), low))
