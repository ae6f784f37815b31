"""FANNO's LLM document judge (optional): a quality prompt and an advertisement prompt per document,
each read from the log-probabilities of the first generated token: P(yes) = p("1") / (p("1") + p("0")).

"yes"/"no" count with "1"/"0" because small chat models often answer in words. Scoring (prompt
builder + pure parser here, generation through the cached engine stage) is separate from deciding.
A document whose answer has neither token among the top-k gets a null score: kept, and counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from string import Template

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ..config import DocJudgeConfig
from ..decide import drop_if
from ..llm.task import DOUBLE, STRING, LLMTask, fields
from ..llm.types import Conversation, Sampling, token_mass
from ..prompts import delimit, template
from ..prompts.doc_budget import DocBudget, fitted

JUDGES = {"quality": "judge_quality.txt", "ad": "judge_ad.txt"}
YES, NO = ("1", "yes"), ("0", "no")


def judge_conversation(kind: str, document: str, budget: DocBudget | None = None) -> Conversation:
    def build(doc: str) -> Conversation:
        user = Template(template(JUDGES[kind])).substitute(document=delimit(doc))
        return [{"role": "user", "content": user}]
    return fitted(build, [document], budget)


def yes_probability(logprobs_json: str | None) -> float | None:
    """{token: logprob} JSON of the first token -> P(yes) among yes/no tokens, or None if neither."""
    mass = token_mass(logprobs_json)
    yes, no = sum(mass.get(t, 0.0) for t in YES), sum(mass.get(t, 0.0) for t in NO)
    return yes / (yes + no) if yes + no > 0 else None


@dataclass(frozen=True)
class DocJudgeTask(LLMTask):
    """Rows: id, text of the documents the rules kept; two prompts each (quality, advertisement). Greedy, one
    token, top-k log-probabilities (Sampling.greedy): the judge reads a distribution, not a sample."""

    budget: DocBudget | None = None

    prompt_fields = fields([("judge", STRING)])
    parsed_fields = fields([("p_yes", DOUBLE)])
    consumed = ("text",)

    @classmethod
    def of(cls, cfg: DocJudgeConfig, stage: str, llm, tokenizer: str | None) -> DocJudgeTask:
        """`llm`: the run's llm section (the context the document must fit), `tokenizer`: the model's folder."""
        sampling = Sampling.greedy(1, cfg.top_logprobs)
        return cls(stage=stage, sampling=sampling,
                   budget=DocBudget.of(llm, tokenizer, sampling.max_tokens, cfg.max_doc_tokens))

    def conversations(self, row):
        for kind in JUDGES:
            yield {"judge": kind}, judge_conversation(kind, row["text"], self.budget)

    def parse(self, text, finish_reason, logprobs, row):
        return {"p_yes": yes_probability(logprobs)}, None  # a null score never drops (decide)


def judge_scores(generated: DataFrame) -> DataFrame:
    """parsed judge answers (id, judge, p_yes) -> id, judge_quality, judge_ad."""
    return generated.groupBy("id").agg(*[F.max(F.when(F.col("judge") == k, F.col("p_yes"))).alias(f"judge_{k}")
                                      for k in JUDGES])


def decide(docs: DataFrame, scores: DataFrame, cfg: DocJudgeConfig) -> DataFrame:
    """Adds judge_quality / judge_ad and drops (reason llm_low_quality, llm_advertisement) rows that
    earlier rules kept. Null scores never drop a document."""
    return drop_if(docs.join(scores, "id", "left"),
                   F.when(F.col("judge_quality") < cfg.min_quality, F.lit("llm_low_quality")),
                   F.when(F.col("judge_ad") >= cfg.max_advertisement, F.lit("llm_advertisement")))
