"""The pre-screen stages' bodies: scores, near-duplicates, the optional LLM document judge, the kept split,
the graph's communities and the diverse selection."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ..llm.stage import llm_stage
from ..prompts.doc_budget import DocBudget
from ..text import pii
from . import dedup, doc_judge, graph, heuristics, language
from .passages import split_documents


class NothingToGenerate(RuntimeError):
    """Every document was rejected by the pre-screen: rejects and metrics are written, the job stops."""


def score(ctx) -> DataFrame:
    p = ctx.cfg.prescreen
    docs = language.add_language(ctx.out("docs"), p.language_chars)
    return heuristics.decide(heuristics.score_documents(docs, p.tokenizer), p)


def near_dedup(ctx) -> DataFrame:
    """Near-duplicates marked on the text as read; then PII masked, before the judge or any prompt sees it."""
    marked = dedup.mark_near_duplicates(ctx.out("docs_scored"), ctx.cfg.dedup)
    return pii.mask_columns(marked, ("text",), ctx.cfg.pii.types) if ctx.cfg.pii.documents else marked


def count_pii(ctx, df: DataFrame, scope: str, columns: tuple[str, ...]) -> None:
    for kind, n in pii.counts(df, columns, ctx.cfg.pii.types).items():
        ctx.metric(f"pii.{scope}.{kind}", n)


def judge_documents(ctx) -> DataFrame:
    """The LLM judge scores only documents the rules kept (the expensive step runs last)."""
    jc = ctx.cfg.doc_judge
    docs = ctx.out("docs_dedup")
    task = doc_judge.DocJudgeTask.of(jc, "docs_judged", ctx.cfg.llm, ctx.llm.spec.model)
    judged = llm_stage(ctx, task, docs.where(F.col("drop_reason").isNull()).select("id", "text"))
    return doc_judge.decide(docs, doc_judge.judge_scores(judged), jc)


def count_unscored_documents(ctx, judged: DataFrame) -> None:
    ctx.metric("doc_judge.unscored", judged.where(F.col("drop_reason").isNull() & (
        F.col("judge_quality").isNull() | F.col("judge_ad").isNull())).count())


def kept(ctx, decided: str) -> DataFrame:
    return heuristics.split_kept(ctx.out(decided))[0].drop("raw", "read_error", "contaminated_by")


def stop_if_nothing_kept(ctx, kept_docs: DataFrame) -> None:
    if ctx.rows("docs_kept") == 0:
        reasons = ", ".join(f"{k.split('.')[-1]} {int(v)}" for k, v in sorted(ctx.metrics.items())
                            if k.startswith("prescreen.dropped."))
        raise NothingToGenerate(f"no document passed the pre-screen ({ctx.rows('docs')} read, "
                                f"all rejected: {reasons or 'none'}); see {ctx.rd.uri('rejects', 'docs')}")


def community_metrics(ctx, comms: DataFrame) -> None:
    agg = graph.community_sizes(comms).agg(
        F.count("*").alias("n"), F.max("size").alias("largest"),
        F.sum(F.when(F.col("size") == 1, 1).otherwise(0)).alias("singletons")).first()
    ctx.metric("communities.count", agg["n"])
    ctx.metric("communities.largest", agg["largest"] or 0)
    ctx.metric("communities.singletons", agg["singletons"] or 0)


def passages(ctx) -> DataFrame:
    """Units of the graph and the prompts: passages of the long documents, the short ones whole."""
    budget = DocBudget(tokenizer=ctx.llm.spec.model, context=0, reserve=0)  # counts in the LLM's tokens
    return split_documents(ctx.out("docs_kept").select("id", "text", "url"), ctx.cfg.segment.max_tokens, budget)


def passage_metrics(ctx, units: DataFrame) -> None:
    """Documents cut and whole, passage tokens (median, longest): the card's and the run's passage numbers."""
    agg = units.agg(F.countDistinct("doc_id").alias("docs"), F.max("passage_tokens").alias("longest"),
                    F.expr("percentile_approx(passage_tokens, 0.5)").alias("median")).first()
    split = units.where(F.col("passage") > 0).select("doc_id").distinct().count()
    ctx.metric("passages.documents_split", split)
    ctx.metric("passages.documents_whole", (agg["docs"] or 0) - split)
    ctx.metric("passages.median_tokens", agg["median"] or 0)
    ctx.metric("passages.longest_tokens", agg["longest"] or 0)


def select(ctx) -> DataFrame:
    units = ctx.out("passages").select("id", "text", "url", "doc_id", "passage", "span_start", "span_end")
    return graph.sample_per_community(units.join(ctx.out("communities"), "id"), ctx.cfg.sample)
