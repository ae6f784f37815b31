"""The FANNO flow as one declarative plan: `build_plan(cfg)` lists every stage top to bottom; the
runner (runner.py) walks it over the run dir. The plan also drives --until, resume and the README's
stage table, so the stage list lives here only.

    pre-screen:   docs -> docs_scored -> docs_dedup -> [docs_judged] -> docs_kept -> docs_vec -> edges
                  -> communities -> docs_selected
    seeds:        instructions_r0 -> pairs_r0 -> [judged_r0] -> ucb_update_r0
    round N >= 1: ucb_pick_rN -> instructions_rN -> pairs_rN -> [judged_rN] -> ucb_update_rN
    output:       final (+ export/, report/)
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass

import yaml
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from .config import FannoConfig, flatten, to_dict
from .fs import FileSystem, staging_dir
from .generate import diversity, instruction_filter, instruction_prompts, responses
from .generate import judge as pair_judge
from .generate.prompts import request_text
from .generate.ucb import UCBBandit, minmax
from .io.readers import read_corpus
from .llm.engine import engine_spec
from .llm.model_store import embedding_model_path, model_key, resolve_model
from .prescreen import dedup, doc_judge, embed, graph, heuristics, language
from .publish import card, decontam, lineage, pii
from .redact import redact
from .report.build import build_report
from .rundir import RunDir
from .runner import Context, Stage, StopAfter, run_plan
from .tracking import Tracker

log = logging.getLogger("fanno_spark")


class NothingToGenerate(RuntimeError):
    """Every document was rejected by the pre-screen: rejects and metrics are written, the job stops."""


class UnknownStage(ValueError):
    """--until names a stage that is not in this config's plan (or is disabled by it)."""


# -- pre-screen ------------------------------------------------------------------------------------
def _score(ctx: Context) -> DataFrame:
    p = ctx.cfg.prescreen
    docs = language.add_language(ctx.out("docs"), p.language_chars)
    return heuristics.decide(heuristics.score_documents(docs, p.tokenizer), p)


def _dedup(ctx: Context) -> DataFrame:
    """Near-duplicates marked on the text as read; then PII masked, before the judge or any prompt sees it."""
    marked = dedup.mark_near_duplicates(ctx.out("docs_scored"), ctx.cfg.dedup)
    return pii.mask_columns(marked, ("text",), ctx.cfg.pii.types) if ctx.cfg.pii.documents else marked


def _count_pii(ctx: Context, df: DataFrame, scope: str, columns: tuple[str, ...]) -> None:
    for kind, n in pii.counts(df, columns, ctx.cfg.pii.types).items():
        ctx.metric(f"pii.{scope}.{kind}", n)


def _benchmarks(ctx: Context) -> tuple[DataFrame, list[int]]:
    """The evaluation prompts' n-grams, read once per job (cached: a few MB for 10k prompts)."""
    if "bench" not in ctx.shared:
        grams, lengths, stats = decontam.benchmark_grams(
            decontam.load_benchmarks(ctx.spark, ctx.cfg.decontam, ctx.fs), ctx.cfg.decontam)
        for k, v in stats.items():
            ctx.metric(f"decontam.benchmark.{k}", v)
        ctx.shared["bench"] = (grams.cache(), lengths)
    return ctx.shared["bench"]


def _decontaminate_documents(ctx: Context, rules_out: str) -> DataFrame:
    grams, lengths = _benchmarks(ctx)
    return decontam.mark_contaminated(ctx.out(rules_out), "id", ("text",), grams, lengths)


def _count_contaminated(ctx: Context, df: DataFrame, scope: str) -> None:
    found = decontam.per_benchmark(df)
    for path in ctx.cfg.decontam.benchmarks:
        name = decontam.benchmark_name(path)
        ctx.metric(f"decontam.{scope}.{name}", found.get(name, 0))


def _judge_documents(ctx: Context) -> DataFrame:
    """The LLM judge scores only documents the rules kept (the expensive step runs last)."""
    jc = ctx.cfg.doc_judge
    docs = ctx.out("docs_dedup")
    sampling = doc_judge.judge_sampling(jc)
    alive = docs.where(F.col("drop_reason").isNull()).select("id", "text")
    budget = ctx.doc_budget(sampling, jc.max_doc_tokens)
    generated = ctx.generate(doc_judge.judge_prompts(alive, ctx.model, sampling, budget), sampling, "docs_judged")
    return doc_judge.decide(docs, doc_judge.judge_scores(generated), jc)


def _count_unscored_documents(ctx: Context, judged: DataFrame) -> None:
    ctx.metric("doc_judge.unscored", judged.where(F.col("drop_reason").isNull() & (
        F.col("judge_quality").isNull() | F.col("judge_ad").isNull())).count())


def _stop_if_nothing_kept(ctx: Context, kept: DataFrame) -> None:
    if ctx.metrics["docs_kept.rows"] == 0:
        ctx.rd.write_json("metrics.json", {**ctx.metrics, **ctx.info})
        reasons = ", ".join(f"{k.split('.')[-1]} {int(v)}" for k, v in sorted(ctx.metrics.items())
                            if k.startswith("prescreen.dropped."))
        raise NothingToGenerate(f"no document passed the pre-screen ({int(ctx.metrics['docs.rows'])} read, "
                                f"all rejected: {reasons or 'none'}); see {ctx.rd.uri('rejects', 'docs')}")


def _community_metrics(ctx: Context, comms: DataFrame) -> None:
    agg = graph.community_sizes(comms).agg(
        F.count("*").alias("n"), F.max("size").alias("largest"),
        F.sum(F.when(F.col("size") == 1, 1).otherwise(0)).alias("singletons")).first()
    ctx.metric("communities.count", agg["n"])
    ctx.metric("communities.largest", agg["largest"] or 0)
    ctx.metric("communities.singletons", agg["singletons"] or 0)


def _select(ctx: Context) -> DataFrame:
    with_comm = ctx.out("docs_kept").select("id", "text", "url").join(ctx.out("communities"), "id")
    return graph.sample_per_community(with_comm, ctx.cfg.sample)


# -- instructions, responses, judge ----------------------------------------------------------------
def _pool(ctx: Context, before_round: int) -> DataFrame | None:
    """Valid pairs of the rounds before `before_round` (the pool new instructions must not repeat)."""
    frames = [ctx.out(pairs_stage(ctx.cfg, r)).where(F.col("drop_reason").isNull())
              for r in range(before_round) if ctx.has(pairs_stage(ctx.cfg, r))]
    if not frames:
        return None
    pool = frames[0]
    for f in frames[1:]:
        pool = pool.unionByName(f)
    return pool


def window(cfg: FannoConfig, r: int) -> tuple[int, int]:
    """[start, end) of selection_order that round r reads: the seed documents, then per augmentation
    round a fresh window of unseen documents (FANNO's window_size), so no document serves two rounds."""
    if r == 0:
        return 0, cfg.seeds.docs
    start = cfg.seeds.docs + (r - 1) * cfg.augment.window
    return start, start + cfg.augment.window


def _window_docs(ctx: Context, r: int) -> DataFrame:
    start, end = window(ctx.cfg, r)
    order = F.col("selection_order")
    return ctx.out("docs_selected").where((order >= start) & (order < end))


def _instructions(ctx: Context, r: int) -> DataFrame:
    cfg, name = ctx.cfg, f"instructions_r{r}"
    docs = _window_docs(ctx, r)
    if r == 0:
        sampling = ctx.sampling(cfg.seeds.max_tokens)
        prompts = instruction_prompts.seed_prompts(docs, ctx.model, sampling, cfg.tags.prompts_per_doc,
                                                   cfg.tags.seed, ctx.doc_budget(sampling), cfg.prompts.style)
    else:
        sampling = ctx.sampling(cfg.augment.max_tokens)
        prompts = instruction_prompts.augment_prompts(docs, ctx.out(f"ucb_pick_r{r}"), ctx.model, sampling, r,
                                                      cfg.augment.seed, ctx.doc_budget(sampling), cfg.prompts.style)
    pool = _pool(ctx, r)
    cands = instruction_filter.parse_and_filter_instructions(ctx.generate(prompts, sampling, name), pool,
                                                             cfg.filter, r)
    if cfg.filter.max_similarity is None:
        return cands.withColumn("similar_to", F.lit(None).cast("string"))
    return diversity.mark_similar(cands, _pool_vectors(ctx, pool, r), cfg.filter.max_similarity, cfg.embed,
                                  cfg.graph, embedding_model_path())


def _pool_vectors(ctx: Context, pool: DataFrame | None, r: int) -> DataFrame | None:
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
    vecs = stages[0].select(F.col("instruction_id").alias("id"), F.col(diversity.VEC).alias("embedding"))
    for s in stages[1:]:
        vecs = vecs.unionByName(s.select(F.col("instruction_id").alias("id"), F.col(diversity.VEC).alias("embedding")))
    return vecs.where(F.col("embedding").isNotNull()).dropDuplicates(["id"]).join(ids, "id")


def _pairs(ctx: Context, r: int) -> DataFrame:
    cfg = ctx.cfg
    sampling = ctx.sampling(cfg.respond.max_tokens)
    kept = ctx.out(f"instructions_r{r}").where(F.col("drop_reason").isNull()).drop("drop_reason", diversity.VEC)
    if cfg.respond.mode == "rag":
        prompts = responses.rag_response_prompts(kept, ctx.out("docs_kept"), graph.nearest_neighbours(ctx.out("edges")),
                                                 ctx.model, sampling, ctx.doc_budget(sampling), cfg.prompts.style)
    else:
        prompts = responses.response_prompts(kept, ctx.model, sampling, cfg.prompts.style).withColumn(
            "rag_neighbour_id", F.lit(None).cast("string"))
    return responses.parse_responses(ctx.generate(prompts, sampling, f"pairs_r{r}"))


def _judge_pairs(ctx: Context, r: int) -> DataFrame:
    jc, name = ctx.cfg.judge, f"judged_r{r}"
    pairs = ctx.out(f"pairs_r{r}")
    sampling = pair_judge.judge_sampling(jc)
    generated = ctx.generate(pair_judge.judge_prompts(pairs, ctx.model, sampling, jc.max_chars), sampling, name)
    return pair_judge.apply_scores(pairs, generated, jc)


def _count_unscored_pairs(ctx: Context, judged: DataFrame, r: int) -> None:
    ctx.metric(f"judged_r{r}.unscored", judged.where(F.col("judge_error").isNotNull()).count())


def pairs_stage(cfg: FannoConfig, r: int) -> str:
    """The stage that holds round r's final pairs: judged when the judge runs."""
    return f"judged_r{r}" if cfg.judge.enabled else f"pairs_r{r}"


# -- the UCB bandit (driver side) ------------------------------------------------------------------
ARMS_SCHEMA = "arm_id string, text string, reward double, count long, observations long"


def _arms_frame(ctx: Context) -> DataFrame:
    b = ctx.bandit
    return ctx.spark.createDataFrame([(k, a.text, a.reward, a.count, a.observations) for k, a in sorted(b.arms.items())],
                                     ARMS_SCHEMA)


def _rewards(ctx: Context, pairs: DataFrame) -> list[tuple[str, str, list[str], float]]:
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


def _save_bandit(ctx: Context, rel: str) -> None:
    ctx.rd.write_json(rel, json.loads(ctx.bandit.to_json()))
    if ctx.tracker:
        ctx.tracker.log_text(ctx.bandit.to_json(), rel)


def _load_bandit(rel: str):
    def restore(ctx: Context) -> None:
        ctx.bandit = UCBBandit.from_json(ctx.fs.read_text(ctx.rd.uri(rel)))
    return restore


def _ucb_update(ctx: Context, r: int) -> DataFrame:
    """Round 0: the bandit's arms are the seed pairs. Later rounds: the rewards of the few-shots used are
    updated from the new pairs, which join as arms. The state is saved as ucb/round-<r>.json."""
    a = ctx.cfg.augment
    if r == 0:
        ctx.bandit = UCBBandit(c=a.ucb_c, top_fraction=a.top_fraction, k=a.fewshot_k, seed=a.seed)
    for arm_id, text, fewshots, reward in _rewards(ctx, ctx.out(pairs_stage(ctx.cfg, r))):
        for shot in fewshots:
            if shot in ctx.bandit.arms:
                ctx.bandit.update(shot, reward)
        ctx.bandit.add(arm_id, text, reward)
    _save_bandit(ctx, f"ucb/round-{r}.json")
    return _arms_frame(ctx)


def _no_round_needed(ctx: Context, r: int) -> str | None:
    start, _ = window(ctx.cfg, r)
    if start >= ctx.metrics.get("docs_selected.rows", 0):
        return f"round {r} skipped: the selected documents ran out after {start} (sample.max_docs)"
    target = ctx.cfg.augment.target_pairs
    if target:
        have = sum(ctx.metrics.get(f"{pairs_stage(ctx.cfg, q)}.kept", 0) for q in range(r))
        if have >= target:
            return f"target of {target} pairs reached after round {r - 1}"
    if not ctx.bandit or not ctx.bandit.arms:
        return f"round {r} skipped: the pool has no valid pairs to use as few-shot examples"
    return None


def _ucb_pick(ctx: Context, r: int) -> DataFrame:
    """UCB picks few-shots per selected document; saved (picks + bandit) before any prompt goes out, so a
    resumed round reuses the same picks instead of drawing again."""
    picks_file, picked_file = f"ucb/round-{r}-picks.json", f"ucb/round-{r}-picked.json"
    if ctx.rd.exists(picked_file):  # a killed run drew them already
        _load_bandit(picked_file)(ctx)
        picks = ctx.rd.read_json(picks_file)
    else:
        doc_ids = [row["id"] for row in _window_docs(ctx, r).select("id").collect()]  # augment.window rows
        picks = ctx.bandit.choose(doc_ids, round_no=r)
        ctx.rd.write_json(picks_file, picks)
        _save_bandit(ctx, picked_file)
    return ctx.spark.createDataFrame([(d, ids, [ctx.bandit.arms[i].text for i in ids]) for d, ids in picks.items()],
                                     "doc_id string, fewshot_ids array<string>, fewshot_texts array<string>")


# -- output ----------------------------------------------------------------------------------------
def _valid_pairs(ctx: Context) -> DataFrame:
    """The valid pairs of every round that ran."""
    frames = [ctx.out(pairs_stage(ctx.cfg, r)).where(F.col("drop_reason").isNull())
              for r in range(ctx.cfg.augment.rounds + 1) if ctx.has(pairs_stage(ctx.cfg, r))]
    valid = frames[0]
    for f in frames[1:]:
        valid = valid.unionByName(f)
    return valid


def _decontaminate_pairs(ctx: Context) -> DataFrame:
    grams, lengths = _benchmarks(ctx)
    return decontam.mark_contaminated(_valid_pairs(ctx), "instruction_id", ctx.cfg.decontam.instruction_fields,
                                      grams, lengths)


def _count_generated_pii(ctx: Context, final: DataFrame) -> None:
    _count_pii(ctx, final, "generated", ("instruction", "input", "output"))


def _final(ctx: Context) -> DataFrame:
    if ctx.cfg.decontam.benchmarks:
        valid = ctx.out("decontaminated").where(F.col("drop_reason").isNull())
    else:
        valid = _valid_pairs(ctx)
    if ctx.cfg.pii.generated:
        valid = pii.mask_columns(valid, ("instruction", "input", "output"), ctx.cfg.pii.types)
    if "judge_score" not in valid.columns:
        valid = valid.withColumn("judge_score", F.lit(None).cast("double"))
    urls = ctx.out("docs_selected").select(F.col("id").alias("doc_id"), F.col("url").alias("doc_url"))
    return (valid.join(urls, "doc_id", "left")
            .select("instruction", "input", "output", "doc_id", "doc_url", "community",
                    "task_type", "difficulty", "style", "round", "fewshot_ids", "instruction_id",
                    "instruction_prompt_hash", "response_prompt_hash", "instruction_tokens", "response_tokens",
                    "rag_neighbour_id", "judge_score")
            .orderBy("round", "doc_id", "instruction_id"))


def _export(ctx: Context, final: DataFrame) -> None:
    """export/alpaca.json, messages.jsonl, sample.json (+ the data report): streamed to local files on the
    driver (never the whole dataset in memory), then copied into the run dir, wherever it lives."""
    out = staging_dir("fanno-export-")
    n = 0
    with open(out / "alpaca.json", "w") as alpaca, open(out / "messages.jsonl", "w") as messages:
        alpaca.write("[\n")
        for row in final.toLocalIterator():
            rec = {"instruction": row["instruction"], "input": row["input"] or "", "output": row["output"]}
            alpaca.write((",\n" if n else "") + json.dumps(rec, ensure_ascii=False))
            msgs = [{"role": "user", "content": request_text(row["instruction"], row["input"])},
                    {"role": "assistant", "content": row["output"]}]
            messages.write(json.dumps({"messages": msgs, "doc_id": row["doc_id"]}, ensure_ascii=False) + "\n")
            n += 1
        alpaca.write("\n]\n")
    sample = [r.asDict() for r in final.limit(ctx.cfg.output.sample_rows).drop("fewshot_ids").collect()]
    (out / "sample.json").write_text(json.dumps(sample, indent=2, sort_keys=True, default=str))
    for name in ("alpaca.json", "messages.jsonl", "sample.json"):
        ctx.fs.upload(out / name, ctx.rd.uri("export", name))
    if ctx.tracker:
        ctx.tracker.log_artifact(out / "sample.json", "dataset")
        ctx.tracker.log_artifact(out / "alpaca.json", "dataset")
    shutil.rmtree(out, ignore_errors=True)
    if ctx.cfg.report.enabled and n:
        _report(ctx, final)


def _report(ctx: Context, final: DataFrame) -> None:
    ctx.spark.sparkContext.setJobGroup("report", "fanno-spark data report", interruptOnCancel=True)
    start = time.time()
    local = staging_dir("fanno-report-")  # matplotlib writes local files; then they go to the run dir
    metrics, pngs = build_report(final, local, ctx.cfg.report, ctx.cfg.embed, embedding_model_path(),
                                 ctx.cfg.filter.max_similarity or 0.9)
    for k, v in metrics.items():
        ctx.metric(k, v)
    for f in [*pngs, local / "report.json"]:
        ctx.fs.upload(f, ctx.rd.uri("report", f.name))
        if f.suffix == ".png":  # the dataset card shows them from export/ (what gets published)
            ctx.fs.upload(f, ctx.rd.uri("export", "plots", f.name))
        if ctx.tracker:
            ctx.tracker.log_artifact(f, "report")
    shutil.rmtree(local, ignore_errors=True)
    log.info("[report] %d plots in %.1fs: %s", len(pngs), time.time() - start, ", ".join(p.name for p in pngs))


# -- the plan --------------------------------------------------------------------------------------
def _round(cfg: FannoConfig, r: int) -> list[Stage]:
    judge = cfg.judge.enabled
    last = pairs_stage(cfg, r)
    stages = []
    if r > 0:
        stages.append(Stage(f"ucb_pick_r{r}", ("docs_selected", f"ucb_update_r{r - 1}"), lambda c: _ucb_pick(c, r),
                            "UCB picks few-shot examples per document (driver), saved before any prompt",
                            round=r, skip_if=lambda c: _no_round_needed(c, r),
                            restore=_load_bandit(f"ucb/round-{r}-picked.json")))
    stages += [
        # the pool: every earlier round's pairs and instructions (their vectors)
        Stage(f"instructions_r{r}", ("docs_selected",) + ((f"ucb_pick_r{r}",) if r else ())
              + tuple(x for q in range(r) for x in (pairs_stage(cfg, q), f"instructions_r{q}")),
              lambda c: _instructions(c, r),
              "seed instructions from tags" if r == 0 else "augmented instructions from the picked few-shots",
              round=r, decides=True),
        Stage(f"pairs_r{r}", (f"instructions_r{r}",) + (("docs_kept", "edges") if cfg.respond.mode == "rag" else ()),
              lambda c: _pairs(c, r), f"responses ({cfg.respond.mode})", round=r, decides=True),
    ]
    if judge:
        stages.append(Stage(f"judged_r{r}", (f"pairs_r{r}",), lambda c: _judge_pairs(c, r),
                            "1-5 pair judge from digit log-probs", round=r, decides=True,
                            reasons=("low_judge_score",), measure=lambda c, df: _count_unscored_pairs(c, df, r)))
    stages.append(Stage(f"ucb_update_r{r}", (last,), lambda c: _ucb_update(c, r),
                        "bandit arms and rewards after the round (driver)", round=r,
                        restore=_load_bandit(f"ucb/round-{r}.json"),
                        measure=lambda c, df: c.metric("ucb.arms", len(c.bandit.arms))))
    return stages


def build_plan(cfg: FannoConfig) -> list[Stage]:
    """Every stage this config runs, in order. Disabled stages are absent (see disabled_stages)."""
    ec = cfg.embed
    rules_out = "docs_judged" if cfg.doc_judge.enabled else "docs_dedup"
    docs_decontam = bool(cfg.decontam.benchmarks and cfg.decontam.documents)
    before_split = "docs_decontaminated" if docs_decontam else rules_out
    plan = [
        Stage("docs", (), lambda c: read_corpus(c.spark, c.cfg.input), "read the corpus into one schema",
              after=lineage.log_corpus),
        Stage("docs_scored", ("docs",), _score, "heuristic scores, language, exact dedup; drop_reason"),
        Stage("docs_dedup", ("docs_scored",), _dedup, "MinHash near-duplicates; PII masked"),
    ]
    if cfg.doc_judge.enabled:
        plan.append(Stage("docs_judged", ("docs_dedup",), _judge_documents, "LLM quality / advertisement judge",
                          measure=_count_unscored_documents))
    if docs_decontam:
        plan.append(Stage("docs_decontaminated", (rules_out,), lambda c: _decontaminate_documents(c, rules_out),
                          "documents sharing an n-gram with an evaluation prompt",
                          measure=lambda c, df: _count_contaminated(c, df, "documents")))
    plan += [
        Stage("docs_kept", (before_split,),
              lambda c: heuristics.split_kept(c.out(before_split))[0].drop("raw", "read_error", "contaminated_by"),
              "the kept documents; the rest to rejects/docs", splits=before_split, rejects_as="docs",
              reason_prefix="prescreen", after=_stop_if_nothing_kept,
              measure=lambda c, df: _count_pii(c, df, "documents", ("text",))),
        Stage("docs_vec", ("docs_kept",), lambda c: embed.embed_documents(c.out("docs_kept").select("id", "text"), ec,
                                                                          embedding_model_path()),
              "MiniLM embeddings"),
        Stage("edges", ("docs_vec",), lambda c: graph.similarity_edges(c.out("docs_vec"), c.cfg.graph),
              "cosine similarity graph (IVF or LSH, never all pairs)"),
        Stage("communities", ("docs_kept", "edges"),
              lambda c: graph.label_propagation(c.out("docs_kept"), c.out("edges"), c.cfg.graph),
              "GraphFrames label propagation", measure=_community_metrics),
        Stage("docs_selected", ("docs_kept", "communities"), _select, "k per community, round-robin"),
    ]
    for r in range(cfg.augment.rounds + 1):
        plan += _round(cfg, r)
    last_rounds = tuple(pairs_stage(cfg, r) for r in range(cfg.augment.rounds + 1))
    if cfg.decontam.benchmarks:
        plan.append(Stage("decontaminated", last_rounds, _decontaminate_pairs,
                          "pairs sharing an n-gram with an evaluation prompt", decides=True, reasons=("contaminated",),
                          measure=lambda c, df: _count_contaminated(c, df, "pairs")))
    plan.append(Stage("final", (("decontaminated",) if cfg.decontam.benchmarks else last_rounds) + ("docs_selected",),
                      _final, "the dataset with lineage, generated text PII-masked; export/ (card) and report/",
                      partitions=1, after=_export, measure=_count_generated_pii))
    return plan


def disabled_stages(cfg: FannoConfig) -> dict[str, str]:
    """Stage names this config leaves out, with the key that would turn each on."""
    off = {}
    if not cfg.doc_judge.enabled:
        off["docs_judged"] = "doc_judge.enabled"
    if not cfg.judge.enabled:
        off.update({f"judged_r{r}": "judge.enabled" for r in range(cfg.augment.rounds + 1)})
    if not cfg.decontam.benchmarks:
        off["decontaminated"] = "decontam.benchmarks"
    if not (cfg.decontam.benchmarks and cfg.decontam.documents):
        off["docs_decontaminated"] = "decontam.documents"
    return off


def check_until(cfg: FannoConfig, until: str | None) -> None:
    """--until must name a stage of this config's plan: one line otherwise, before Spark starts."""
    if until is None:
        return
    names = [s.name for s in build_plan(cfg)]
    if until in names:
        return
    off = disabled_stages(cfg)
    if until in off:
        setting = "[]" if off[until] == "decontam.benchmarks" else "false"
        raise UnknownStage(f"--until {until}: that stage is off in this config ({off[until]}: {setting})")
    if until.rsplit("_r", 1)[-1].isdigit() and until.rsplit("_r", 1)[0] in ("instructions", "pairs", "judged",
                                                                            "ucb_pick", "ucb_update"):
        raise UnknownStage(f"--until {until}: this config runs rounds 0..{cfg.augment.rounds} (augment.rounds)")
    raise UnknownStage(f"--until {until}: unknown stage; this config's stages: {', '.join(names)}")


def plan_line(cfg: FannoConfig) -> str:
    return " -> ".join(s.name for s in build_plan(cfg))


# -- entry -----------------------------------------------------------------------------------------
@dataclass
class JobResult:
    run_dir: str
    run_id: str | None
    pairs: int
    final_dir: str | None
    metrics: dict[str, float]


def run_job(spark: SparkSession, cfg: FannoConfig, run_dir: str, fs: FileSystem, tracker: Tracker | None,
            until: str | None = None) -> JobResult:
    # Redacted: the file is also an MLflow artifact (a base_url may carry user:password).
    config_yaml = redact(yaml.safe_dump(to_dict(cfg), sort_keys=False))
    fs.write_text(f"{run_dir.rstrip('/')}/config.yaml", config_yaml)
    if tracker:
        tracker.log_params(flatten(cfg))
        tracker.log_text(config_yaml, "config.yaml")
    path = resolve_model(cfg.llm.model) if cfg.llm.engine == "vllm" else cfg.llm.model
    llm = cfg.llm
    spec = engine_spec(llm, path)
    rd = RunDir(run_dir, spark, fs, log=log.info, progress_interval_s=cfg.output.progress_interval_s)
    # Prompt-cache keys use the logical model id (+ a hash of its config), never a machine path.
    ctx = Context(spark, cfg, rd, fs, tracker, model_key(llm.model, path), spec)
    plan = build_plan(cfg)
    log.info("plan: %s", " -> ".join(s.name for s in plan))
    if cfg.decontam.benchmarks:  # a missing file or field stops here, before any stage
        decontam.check_benchmarks(spark, cfg.decontam, fs)
    try:
        run_plan(ctx, plan, until)
    except StopAfter as stop:
        log.info("stopped after stage %s (--until)", stop)
        _tag_resumed(ctx)
        rd.write_json("metrics.json", {**ctx.metrics, **ctx.info})
        return JobResult(run_dir, tracker.run_id if tracker else None, 0, None, dict(ctx.metrics))
    _tag_resumed(ctx)
    pairs = int(ctx.metrics["final.rows"])
    calls = sum(v for k, v in ctx.metrics.items() if k.endswith(".llm_prompts"))
    ctx.metric("final.pairs", pairs)
    if pairs:
        ctx.metric("final.llm_calls_per_pair", calls / pairs)
    lineage.log_output(ctx, ctx.out("final"), rd.uri("final"))
    rd.write_json("metrics.json", {**ctx.metrics, **ctx.info})  # the same numbers as MLflow, next to the data
    _write_card(ctx)
    return JobResult(run_dir, tracker.run_id if tracker else None, pairs, rd.uri("export"), dict(ctx.metrics))


def _tag_resumed(ctx: Context) -> None:
    """Only a run that reused stages of an earlier one says so."""
    if ctx.reused and ctx.tracker:
        ctx.tracker.set_tag("resumed", "true")
        ctx.tracker.set_tag("resumed_stages", ",".join(ctx.reused))


def _write_card(ctx: Context) -> None:
    if "lineage.input" not in ctx.shared:
        lineage.log_corpus(ctx, ctx.out("docs"), force=True)
    plots = sorted(name for name, is_dir, _, _ in ctx.fs.list(ctx.rd.uri("export", "plots")) if not is_dir)
    text = card.render(ctx.cfg, ctx.metrics, ctx.info, run_id=ctx.tracker.run_id if ctx.tracker else None,
                       tracking_uri=redact(ctx.tracker.uri) if ctx.tracker else None, run_dir=ctx.rd.uri(),
                       plots=plots, lineage={k.split(".", 1)[1]: v for k, v in ctx.shared.items()
                                             if k.startswith("lineage.")})
    ctx.fs.write_text(ctx.rd.uri("export", "README.md"), text)
    if ctx.tracker:
        ctx.tracker.log_text(text, "dataset/README.md")
