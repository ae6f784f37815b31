"""The FANNO flow as one declarative plan: `build_plan(cfg)` lists every stage top to bottom; the
runner (runner.py) walks it over the run dir. The plan also drives --until, resume and the README's
stage table, so the stage list lives here only; each stage's body lives beside its logic
(prescreen/stages.py, generate/stages.py, generate/bandit_stages.py, publish/stages.py).

    pre-screen:   docs -> docs_scored -> docs_dedup -> [docs_judged] -> [docs_decontaminated] -> docs_kept
                  -> passages -> docs_vec -> edges -> communities -> docs_selected
    seeds:        instructions_r0 -> pairs_r0 -> [judged_r0] -> ucb_update_r0
    round N >= 1: ucb_pick_rN -> instructions_rN -> pairs_rN -> [judged_rN] -> ucb_update_rN
    output:       [decontaminated] -> final -> [data_report] -> export -> card
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import yaml
from pyspark.sql import SparkSession

from .config import FannoConfig, flatten, to_dict
from .fs import FileSystem
from .generate import bandit_stages as ucb
from .generate import stages as gen
from .io.readers import read_corpus
from .llm.model_store import embedding_model_path, model_key, resolve_model
from .llm.stage import LLMRun
from .llm.types import engine_spec
from .prescreen import embed, graph
from .prescreen import stages as pre
from .prescreen.stages import NothingToGenerate
from .publish import decontam, ledger, lineage
from .publish import stages as pub
from .redact import redact
from .rundir import RunDir
from .runner import Context, Stage, StopAfter, run_plan
from .stage_keys import stage_keys, store_locations
from .tracking import Tracker

log = logging.getLogger("fanno_spark")

__all__ = ["NothingToGenerate", "UnknownStage", "build_plan", "check_until", "disabled_stages", "plan_line",
           "run_job"]


class UnknownStage(ValueError):
    """--until names a stage that is not in this config's plan (or is disabled by it)."""


def _round(cfg: FannoConfig, r: int) -> list[Stage]:
    last = gen.pairs_stage(cfg, r)
    stages = []
    if r > 0:
        stages.append(Stage(f"ucb_pick_r{r}", ("docs_selected", f"ucb_update_r{r - 1}"), lambda c: ucb.pick(c, r),
                            "UCB picks few-shot examples per document (driver), saved before any prompt",
                            round=r, skip_if=lambda c: ucb.no_round_needed(c, r),
                            restore=ucb.load(f"ucb/round-{r}-picked.json")))
    stages += [
        # the pool: every earlier round's pairs and instructions (their vectors)
        Stage(f"instructions_r{r}", ("docs_selected",) + ((f"ucb_pick_r{r}",) if r else ()) + gen.pool_inputs(cfg, r),
              lambda c: gen.instructions(c, r),
              "seed instructions from tags" if r == 0 else "augmented instructions from the picked few-shots",
              round=r, decides=True,
              reads=("llm", "seeds", "tags", "prompts", "filter", "embed", "graph") + (("augment",) if r else ())),
        Stage(f"pairs_r{r}", (f"instructions_r{r}",) + (("passages", "edges") if cfg.respond.mode == "rag" else ()),
              lambda c: gen.pairs(c, r), f"responses ({cfg.respond.mode})", round=r, decides=True,
              reads=("llm", "respond", "prompts")),
    ]
    if cfg.judge.enabled:
        stages.append(Stage(f"judged_r{r}", (f"pairs_r{r}",), lambda c: gen.judge_pairs(c, r),
                            "1-5 pair judge from digit log-probs", round=r, decides=True,
                            reasons=("low_judge_score",), measure=lambda c, df: gen.count_unscored_pairs(c, df, r),
                            reads=("llm", "judge")))
    stages.append(Stage(f"ucb_update_r{r}", (last,), lambda c: ucb.update(c, r),
                        "bandit arms and rewards after the round (driver)", round=r,
                        restore=ucb.load(f"ucb/round-{r}.json"),
                        measure=lambda c, df: c.metric("ucb.arms", len(c.bandit.arms))))
    return stages


def build_plan(cfg: FannoConfig) -> list[Stage]:
    """Every stage this config runs, in order. Disabled stages are absent (see disabled_stages)."""
    rules_out = "docs_judged" if cfg.doc_judge.enabled else "docs_dedup"
    docs_decontam = bool(cfg.decontam.benchmarks and cfg.decontam.documents)
    before_split = "docs_decontaminated" if docs_decontam else rules_out
    plan = [
        Stage("docs", (), lambda c: read_corpus(c.spark, c.cfg.input, c.fs), "read the corpus into one schema",
              after=lineage.log_corpus, reads=("input",)),
        Stage("docs_scored", ("docs",), pre.score, "heuristic scores, language, exact dedup; drop_reason",
              reads=("prescreen",)),
        Stage("docs_dedup", ("docs_scored",), pre.near_dedup, "MinHash near-duplicates; PII masked",
              reads=("dedup", "pii.documents", "pii.types")),
    ]
    if cfg.doc_judge.enabled:
        plan.append(Stage("docs_judged", ("docs_dedup",), pre.judge_documents, "LLM quality / advertisement judge",
                          measure=pre.count_unscored_documents, reads=("doc_judge", "llm")))
    if docs_decontam:
        plan.append(Stage("docs_decontaminated", (rules_out,), lambda c: pub.decontaminate_documents(c, rules_out),
                          "documents sharing an n-gram with an evaluation prompt",
                          measure=lambda c, df: pub.count_contaminated(c, df, "documents"), reads=("decontam",)))
    plan += [
        Stage("docs_kept", (before_split,), lambda c: pre.kept(c, before_split),
              "the kept documents; the rest to rejects/docs", splits=before_split, rejects_as="docs",
              reason_prefix="prescreen", after=pre.stop_if_nothing_kept,
              measure=lambda c, df: pre.count_pii(c, df, "documents", ("text",)), reads=("pii.types",)),
        Stage("passages", ("docs_kept",), pre.passages,
              "documents over segment.max_tokens cut at sentence starts (Spark NLP); the rest whole",
              measure=pre.passage_metrics, reads=("segment", "llm.model", "llm.engine")),
        Stage("docs_vec", ("passages",), lambda c: embed.embed_documents(c.out("passages").select("id", "text"),
                                                                         c.cfg.embed, embedding_model_path()),
              "MiniLM embeddings", reads=("embed",)),
        Stage("edges", ("docs_vec",), lambda c: graph.similarity_edges(c.out("docs_vec"), c.cfg.graph),
              "cosine similarity graph (IVF or LSH, never all pairs)", reads=("graph",)),
        Stage("communities", ("passages", "edges"),
              lambda c: graph.label_propagation(c.out("passages"), c.out("edges"), c.cfg.graph),
              "GraphFrames label propagation", measure=pre.community_metrics, reads=("graph",)),
        Stage("docs_selected", ("passages", "communities"), pre.select, "k per community, round-robin",
              reads=("sample",)),
    ]
    for r in range(cfg.augment.rounds + 1):
        plan += _round(cfg, r)
    last_rounds = tuple(gen.pairs_stage(cfg, r) for r in range(cfg.augment.rounds + 1))
    if cfg.decontam.benchmarks:
        plan.append(Stage("decontaminated", last_rounds, pub.decontaminate_pairs,
                          "pairs sharing an n-gram with an evaluation prompt", decides=True, reasons=("contaminated",),
                          measure=lambda c, df: pub.count_contaminated(c, df, "pairs"),
                          reads=("decontam", "judge.enabled", "augment.rounds")))
    plan.append(Stage("final", (("decontaminated",) if cfg.decontam.benchmarks else last_rounds) + ("docs_selected",),
                      pub.final, "the dataset with lineage, generated text PII-masked", partitions=1,
                      measure=pub.measure_final, after=pub.log_final,
                      reads=("decontam.benchmarks", "pii", "judge.enabled", "augment.rounds"), shareable=False))
    if cfg.report.enabled:
        # not "report": its metrics would mix with the data report's own report.* numbers
        plan.append(Stage("data_report", ("final",), pub.report, "data report: plots and report.json (report/)",
                          files=True))
    plan += [
        Stage("export", ("final",), pub.export, "alpaca.json, messages.jsonl, sample.json (export/)", files=True),
        Stage("card", ("docs", "final", "export") + (("data_report",) if cfg.report.enabled else ()), pub.write_card,
              "the dataset card (export/README.md)", files=True),
    ]
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
    if not cfg.report.enabled:
        off["data_report"] = "report.enabled"
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
    computed: list[str] = field(default_factory=list)  # stages this job computed
    shared: list[str] = field(default_factory=list)  # stages read from a sweep's store, computed by another point


def run_job(spark: SparkSession, cfg: FannoConfig, run_dir: str, fs: FileSystem, tracker: Tracker | None,
            until: str | None = None, store: str | None = None, cache_uri: str | None = None,
            params: dict | None = None) -> JobResult:
    """The plan over run_dir. A sweep passes its shared stage `store` (keyed stages live there, see
    stage_keys.py), its prompt cache (`cache_uri`; llm.cache_uri wins) and the params its child run logs
    (only what differs between points; the parent holds the rest)."""
    # Redacted: the file is also an MLflow artifact (a base_url may carry user:password).
    config_yaml = redact(yaml.safe_dump(to_dict(cfg), sort_keys=False))
    fs.write_text(f"{run_dir.rstrip('/')}/config.yaml", config_yaml)
    if tracker:
        tracker.log_params(flatten(cfg) if params is None else params)
        tracker.log_text(config_yaml, "config.yaml")
    llm = cfg.llm
    path = resolve_model(llm.model) if llm.engine == "vllm" else llm.model
    plan = build_plan(cfg)
    rd = RunDir(run_dir, spark, fs, log=log.info, progress_interval_s=cfg.output.progress_interval_s,
                delta=frozenset({"final"}) if cfg.output.format == "delta" else frozenset(),
                locations=store_locations(store, stage_keys(cfg, plan)) if store else {})
    # Prompt-cache keys use the logical model id (+ a hash of its config), never a machine path.
    cache = fs.qualify(llm.cache_uri) if llm.cache_uri else cache_uri or rd.uri("llm_cache")
    run = LLMRun(spark, engine_spec(llm, path), model_key(llm.model, path), cache, fs,
                 partitions=llm.partitions, batch_size=llm.batch_size, commit_every=llm.commit_every,
                 gpus_per_task=llm.gpu_per_task, cpus_per_task=llm.cpus_per_task)
    ctx = Context(spark, cfg, rd, fs, tracker, run)
    log.info("plan: %s", " -> ".join(s.name for s in plan))
    if cfg.decontam.benchmarks:  # a missing file or field stops here, before any stage
        decontam.check_benchmarks(spark, cfg.decontam, fs)
    stopped, failed = None, True
    try:
        run_plan(ctx, plan, until)
        failed = False
    except StopAfter as stop:
        stopped, failed = stop, False
        log.info("stopped after stage %s (--until)", stop)
    finally:  # however the plan ends (done, --until, no document kept, a failure): the numbers so far
        ledger.record(ctx)
        if ctx.reused and tracker:  # only a run that reused stages of an earlier one says so
            tracker.set_tag("resumed", "true")
            tracker.set_tag("resumed_stages", ",".join(ctx.reused))
        try:
            rd.write_json("metrics.json", {**ctx.metrics, **ctx.info})  # the same numbers as MLflow, by the data
        except Exception as exc:
            if not failed:
                raise
            # the store that failed the stage may refuse this too: the stage's failure is the one to report
            log.warning("metrics.json not written: %s", str(exc).splitlines()[0][:300])
    run_id = tracker.run_id if tracker else None
    computed, shared = list(rd.timings), list(ctx.from_store)
    if stopped is not None:
        return JobResult(run_dir, run_id, 0, None, dict(ctx.metrics), computed, shared)
    return JobResult(run_dir, run_id, int(ctx.metrics["final.pairs"]), rd.uri("export"), dict(ctx.metrics),
                     computed, shared)
