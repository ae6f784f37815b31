"""The generation stages' bodies: seed and augmented instructions, responses, the pair judge. Each builds its
LLM task from the config and runs it through the generic LLM stage; a stage reads only what it declares."""

from __future__ import annotations

from functools import reduce

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ..config import FannoConfig
from ..llm.model_store import embedding_model_path
from ..llm.stage import llm_stage
from ..llm.types import Sampling
from ..prescreen import embed, graph
from ..prompts.doc_budget import DocBudget
from . import diversity, instruction_filter, responses
from .instruction_tasks import AugmentTask, SeedTask
from .judge import PairJudgeTask, apply_scores, judge_rows


def pairs_stage(cfg: FannoConfig, r: int) -> str:
    """The stage that holds round r's final pairs: judged when the judge runs."""
    return f"judged_r{r}" if cfg.judge.enabled else f"pairs_r{r}"


def pool_inputs(cfg: FannoConfig, r: int) -> tuple[str, ...]:
    """What round r's instructions read of earlier rounds: their pairs (the pool) and instructions (vectors)."""
    return tuple(x for q in range(r) for x in (pairs_stage(cfg, q), f"instructions_r{q}"))


def window(cfg: FannoConfig, r: int) -> tuple[int, int]:
    """[start, end) of selection_order that round r reads: the seed documents, then per augmentation
    round a fresh window of unseen documents (FANNO's window_size), so no document serves two rounds."""
    if r == 0:
        return 0, cfg.seeds.docs
    start = cfg.seeds.docs + (r - 1) * cfg.augment.window
    return start, start + cfg.augment.window


def window_docs(ctx, r: int) -> DataFrame:
    start, end = window(ctx.cfg, r)
    order = F.col("selection_order")
    return ctx.out("docs_selected").where((order >= start) & (order < end))


def budget(ctx, sampling: Sampling) -> DocBudget:
    """What of a document fits this stage's prompts (the model's context less the stage's max_tokens)."""
    return DocBudget.of(ctx.cfg.llm, ctx.llm.spec.model, sampling.max_tokens)


def _pool(ctx, r: int) -> DataFrame | None:
    """Valid pairs of the rounds before r that ran (the pool new instructions must not repeat)."""
    frames = [ctx.out(pairs_stage(ctx.cfg, q)).where(F.col("drop_reason").isNull())
              for q in range(r) if ctx.has(pairs_stage(ctx.cfg, q))]
    return union(frames)


def union(frames: list[DataFrame]) -> DataFrame | None:
    return reduce(DataFrame.unionByName, frames) if frames else None


def instructions(ctx, r: int) -> DataFrame:
    cfg = ctx.cfg
    docs = window_docs(ctx, r).select(F.col("id").alias("doc_id"), "text", "community")
    if r == 0:
        sampling = Sampling.of(cfg.llm, cfg.seeds.max_tokens)
        task = SeedTask(f"instructions_r{r}", sampling, cfg.filter, cfg.tags.seed, budget(ctx, sampling),
                        cfg.prompts.style, prompts_per_doc=cfg.tags.prompts_per_doc)
    else:
        sampling = Sampling.of(cfg.llm, cfg.augment.max_tokens)
        task = AugmentTask(f"instructions_r{r}", sampling, cfg.filter, cfg.augment.seed, budget(ctx, sampling),
                           cfg.prompts.style, round_no=r)
        # the driver's UCB picks travel to the executors as a broadcast (one small row per document)
        docs = docs.join(F.broadcast(ctx.out(f"ucb_pick_r{r}")), "doc_id")
    pool = _pool(ctx, r)
    cands = instruction_filter.filter_instructions(llm_stage(ctx, task, docs), pool, cfg.filter, r)
    if cfg.filter.max_similarity is None:
        return cands.withColumn("similar_to", F.lit(None).cast("string"))
    return diversity.mark_similar(cands, _pool_vectors(ctx, pool, r), cfg.filter.max_similarity, cfg.embed,
                                  cfg.graph, embedding_model_path())


def _pool_vectors(ctx, pool: DataFrame | None, r: int) -> DataFrame | None:
    """(id, embedding) of the pool: the vectors earlier rounds wrote with their instructions. A run dir
    written without them (an older version) has its pool embedded again."""
    if pool is None:
        return None
    ids = pool.select(F.col("instruction_id").alias("id")).distinct()
    stages = [ctx.out(f"instructions_r{q}") for q in range(r)]
    if not all(diversity.VEC in s.columns for s in stages):
        texts = pool.select(F.col("instruction_id").alias("id"), F.col("instruction").alias("text")).dropDuplicates(
            ["id"])
        return embed.embed_documents(texts, ctx.cfg.embed, embedding_model_path()).select("id", "embedding")
    vecs = union([s.select(F.col("instruction_id").alias("id"), F.col(diversity.VEC).alias("embedding"))
                  for s in stages])
    return vecs.where(F.col("embedding").isNotNull()).dropDuplicates(["id"]).join(ids, "id")


def pairs(ctx, r: int) -> DataFrame:
    cfg = ctx.cfg
    sampling = Sampling.of(cfg.llm, cfg.respond.max_tokens)
    kept = ctx.out(f"instructions_r{r}").where(F.col("drop_reason").isNull()).drop("drop_reason", diversity.VEC)
    rag = cfg.respond.mode == "rag"
    rows = (responses.rag_rows(kept, ctx.out("passages"), graph.nearest_neighbours(ctx.out("edges"))) if rag
            else responses.direct_rows(kept))
    task = responses.ResponseTask(f"pairs_r{r}", sampling, rag=rag, budget=budget(ctx, sampling) if rag else None,
                                  style=cfg.prompts.style)
    return responses.as_pairs(llm_stage(ctx, task, rows))


def judge_pairs(ctx, r: int) -> DataFrame:
    pairs_df = ctx.out(f"pairs_r{r}")
    judged = llm_stage(ctx, PairJudgeTask.of(ctx.cfg.judge, f"judged_r{r}"), judge_rows(pairs_df))
    return apply_scores(pairs_df, judged, ctx.cfg.judge)


def count_unscored_pairs(ctx, judged: DataFrame, r: int) -> None:
    ctx.metric(f"judged_r{r}.unscored", judged.where(F.col("judge_error").isNotNull()).count())


def valid_pairs(ctx) -> DataFrame:
    """The valid pairs of every round that ran."""
    return union([ctx.out(pairs_stage(ctx.cfg, r)).where(F.col("drop_reason").isNull())
                  for r in range(ctx.cfg.augment.rounds + 1) if ctx.has(pairs_stage(ctx.cfg, r))])
