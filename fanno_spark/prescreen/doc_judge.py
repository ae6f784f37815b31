"""FANNO's LLM document judge (optional): a quality prompt and an advertisement prompt per document,
each read from the log-probabilities of the first generated token: P(yes) = p("1") / (p("1") + p("0")).

"yes"/"no" count with "1"/"0" because small chat models often answer in words. Scoring (prompt
builder + pure parser here, generation through the cached engine stage) is separate from deciding.
A document whose answer has neither token among the top-k gets a null score: kept, and counted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from string import Template

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ..config import DocJudgeConfig
from ..llm.engine import Sampling, prompt_hash, token_mass
from ..prompts import delimit, template
from ..prompts.doc_budget import DocBudget, fitted

JUDGES = {"quality": "judge_quality.txt", "ad": "judge_ad.txt"}
YES, NO = ("1", "yes"), ("0", "no")
PROMPT_SCHEMA = "id string, judge string, prompt_hash string, conversation string"


def judge_sampling(cfg: DocJudgeConfig) -> Sampling:
    """Greedy, one token, top-k log-probabilities: the judge reads a distribution, not a sample."""
    return Sampling(max_tokens=1, temperature=0.0, top_p=1.0, seed=0, logprobs=cfg.top_logprobs)


def judge_conversation(kind: str, document: str, budget: DocBudget | None = None) -> str:
    def build(doc: str) -> str:
        user = Template(template(JUDGES[kind])).substitute(document=delimit(doc))
        return json.dumps([{"role": "user", "content": user}], ensure_ascii=False)
    return fitted(build, [document], budget)


def yes_probability(logprobs_json: str | None) -> float | None:
    """{token: logprob} JSON of the first token -> P(yes) among yes/no tokens, or None if neither."""
    mass = token_mass(logprobs_json)
    yes, no = sum(mass.get(t, 0.0) for t in YES), sum(mass.get(t, 0.0) for t in NO)
    return yes / (yes + no) if yes + no > 0 else None


def judge_prompts(docs: DataFrame, model: str, sampling: Sampling, budget: DocBudget | None) -> DataFrame:
    """docs(id, text) -> one row per (document, judge) with its conversation and cache key."""

    def build(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for pdf in batches:
            rows = []
            for doc in pdf.itertuples(index=False):
                for kind in JUDGES:
                    conv = judge_conversation(kind, doc.text, budget)
                    rows.append((doc.id, kind, prompt_hash(model, sampling, json.loads(conv)), conv))
            yield pd.DataFrame(rows, columns=["id", "judge", "prompt_hash", "conversation"])

    return docs.select("id", "text").mapInPandas(build, PROMPT_SCHEMA)


@F.pandas_udf(T.DoubleType())
def _yes_probability_udf(logprobs: pd.Series) -> pd.Series:
    return pd.Series([yes_probability(v) for v in logprobs], dtype="float64")


def judge_scores(generated: DataFrame) -> DataFrame:
    """generated judge prompts (id, judge, logprobs) -> id, judge_quality, judge_ad."""
    scored = generated.withColumn("p_yes", _yes_probability_udf(F.col("logprobs")))
    return scored.groupBy("id").agg(*[F.max(F.when(F.col("judge") == k, F.col("p_yes"))).alias(f"judge_{k}")
                                      for k in JUDGES])


def decide(docs: DataFrame, scores: DataFrame, cfg: DocJudgeConfig) -> DataFrame:
    """Adds judge_quality / judge_ad and drops (reason llm_low_quality, llm_advertisement) rows that
    earlier rules kept. Null scores never drop a document."""
    df = docs.join(scores, "id", "left")
    reason = (F.when(F.col("judge_quality") < cfg.min_quality, F.lit("llm_low_quality"))
              .when(F.col("judge_ad") >= cfg.max_advertisement, F.lit("llm_advertisement")))
    return df.withColumn("drop_reason", F.coalesce(F.col("drop_reason"), reason))
