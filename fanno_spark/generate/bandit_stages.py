"""The driver-side UCB bandit as stages: arms after each round (update) and few-shot picks before the next
(pick), each saved so a resumed run continues with the same bandit instead of drawing again."""

from __future__ import annotations

import json

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from .stages import pairs_stage, window, window_docs
from .ucb import UCBBandit, minmax

ARMS_SCHEMA = "arm_id string, text string, reward double, count long, observations long"
PICKS_SCHEMA = "doc_id string, fewshot_ids array<string>, fewshot_texts array<string>"


def _arms_frame(ctx) -> DataFrame:
    b = ctx.bandit
    return ctx.spark.createDataFrame([(k, a.text, a.reward, a.count, a.observations) for k, a in sorted(b.arms.items())],
                                     ARMS_SCHEMA)


def rewards(pairs: DataFrame) -> list[tuple[str, str, list[str], float]]:
    """(instruction_id, instruction, fewshot_ids, reward) for the round's valid pairs. Reward: the
    judge score scaled to [0, 1] when the judge ran, else FANNO's min-max normalised response length."""
    score = F.col("judge_score") if "judge_score" in pairs.columns else F.lit(None).cast("double")
    rows = (pairs.where(F.col("drop_reason").isNull())
            .select("instruction_id", "instruction", "fewshot_ids", F.length("output").alias("n"), score.alias("score"))
            .orderBy("instruction_id").collect())  # one round's pairs: bounded by the round's prompts
    by_length = minmax([float(r["n"]) for r in rows])
    return [(r["instruction_id"], r["instruction"], list(r["fewshot_ids"] or []),
             (r["score"] - 1.0) / 4.0 if r["score"] is not None else w)
            for r, w in zip(rows, by_length, strict=True)]


def _save(ctx, rel: str) -> None:
    ctx.rd.write_json(rel, json.loads(ctx.bandit.to_json()))
    if ctx.tracker:
        ctx.tracker.log_text(ctx.bandit.to_json(), rel)


def load(rel: str):
    def restore(ctx) -> None:
        ctx.bandit = UCBBandit.from_json(ctx.fs.read_text(ctx.rd.uri(rel)))
    return restore


def update(ctx, r: int) -> DataFrame:
    """Round 0: the bandit's arms are the seed pairs. Later rounds: the rewards of the few-shots used are
    updated from the new pairs, which join as arms. The state is saved as ucb/round-<r>.json."""
    a = ctx.cfg.augment
    if r == 0:
        ctx.bandit = UCBBandit(c=a.ucb_c, top_fraction=a.top_fraction, k=a.fewshot_k, seed=a.seed)
    for arm_id, text, fewshots, reward in rewards(ctx.out(pairs_stage(ctx.cfg, r))):
        for shot in fewshots:
            if shot in ctx.bandit.arms:
                ctx.bandit.update(shot, reward)
        ctx.bandit.add(arm_id, text, reward)
    _save(ctx, f"ucb/round-{r}.json")
    return _arms_frame(ctx)


def no_round_needed(ctx, r: int) -> str | None:
    """Why round r need not run: the selected documents ran out, the pair target is met, or no arms."""
    start, _ = window(ctx.cfg, r)
    if start >= ctx.rows("docs_selected"):
        return f"round {r} skipped: the selected documents ran out after {start} (sample.max_docs)"
    target = ctx.cfg.augment.target_pairs
    if target:
        have = sum(ctx.kept(pairs_stage(ctx.cfg, q)) for q in range(r))
        if have >= target:
            return f"target of {target} pairs reached after round {r - 1}"
    if not ctx.bandit or not ctx.bandit.arms:
        return f"round {r} skipped: the pool has no valid pairs to use as few-shot examples"
    return None


def pick(ctx, r: int) -> DataFrame:
    """UCB picks few-shots per selected document; saved (picks + bandit) before any prompt goes out, so a
    resumed round reuses the same picks instead of drawing again."""
    picks_file, picked_file = f"ucb/round-{r}-picks.json", f"ucb/round-{r}-picked.json"
    if ctx.rd.exists(picked_file):  # a killed run drew them already
        load(picked_file)(ctx)
        picks = ctx.rd.read_json(picks_file)
    else:
        doc_ids = [row["id"] for row in window_docs(ctx, r).select("id").collect()]  # augment.window rows
        picks = ctx.bandit.choose(doc_ids, round_no=r)
        ctx.rd.write_json(picks_file, picks)
        _save(ctx, picked_file)
    return ctx.spark.createDataFrame([(d, ids, [ctx.bandit.arms[i].text for i in ids]) for d, ids in picks.items()],
                                     PICKS_SCHEMA)
