"""Optional judge of final pairs (1-5). Greedy, one token, read from the first token's top-k
log-probabilities as the expected score over the digits 1..5 (a weak model rarely puts all its mass
on one digit); when no digit is among them, the generated text is searched for one. Pure parser +
prompt builder here; pairs below `judge.min_score` are kept aside with reason low_judge_score."""

from __future__ import annotations

import re
from dataclasses import dataclass
from string import Template

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ..config import JudgeConfig
from ..decide import drop_if
from ..llm.task import DOUBLE, STRING, LLMTask, fields
from ..llm.types import Conversation, Sampling, token_mass
from .prompts import template

DIGIT = re.compile(r"(?<![\d.])([1-5])(?!\.?\d)")
TAG = re.compile(r"</?\s*(instruction|response)\s*>", re.IGNORECASE)


def judge_conversation(instruction: str, response: str, max_chars: int) -> Conversation:
    def clean(t: str) -> str:  # neither side can close its block
        return TAG.sub("[tag]", (t or "")[:max_chars])
    user = Template(template("judge_pair.txt")).substitute(instruction=clean(instruction), response=clean(response))
    return [{"role": "user", "content": user}]


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


@dataclass(frozen=True)
class PairJudgeTask(LLMTask):
    """Rows: instruction_id, instruction, output of the valid pairs. Greedy, one token (Sampling.greedy)."""

    max_chars: int = 4000

    parsed_fields = fields([("judge_score", DOUBLE), ("judge_error", STRING)])
    consumed = ("instruction", "output")

    @classmethod
    def of(cls, cfg: JudgeConfig, stage: str) -> PairJudgeTask:
        return cls(stage=stage, sampling=Sampling.greedy(1, cfg.top_logprobs), max_chars=cfg.max_chars)

    def conversations(self, row):
        yield {}, judge_conversation(row["instruction"], row["output"], self.max_chars)

    def parse(self, text, finish_reason, logprobs, row):
        score, error = parse_score(text, logprobs)
        return {"judge_score": score, "judge_error": error}, None  # the score decides, in apply_scores


def judge_rows(pairs: DataFrame) -> DataFrame:
    return pairs.where(F.col("drop_reason").isNull()).select("instruction_id", "instruction", "output")


def apply_scores(pairs: DataFrame, judged: DataFrame, cfg: JudgeConfig) -> DataFrame:
    """pairs + the judge's parsed answers -> pairs with judge_score, judge_error and low scores dropped."""
    scores = (judged.select("instruction_id", "judge_score",
                            F.coalesce("judge_error", "drop_reason").alias("judge_error"),
                            F.col("prompt_hash").alias("judge_prompt_hash"))
              .dropDuplicates(["instruction_id"]))
    return drop_if(pairs.join(scores, "instruction_id", "left"),
                   F.when(F.col("judge_score") < cfg.min_score, F.lit("low_judge_score")))
