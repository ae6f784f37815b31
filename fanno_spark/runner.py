"""Walks a plan of stages over the run dir: skips completed stages, writes outputs, and records rows,
timings, LLM numbers, kept/yield, drop reasons and rejects as hooks, the same way for every stage."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from .config import FannoConfig
from .fs import FileSystem
from .generate.ucb import UCBBandit
from .llm.engine import EngineSpec, Sampling
from .llm.spark_generate import generate_cached
from .prompts.doc_budget import DocBudget
from .rundir import RunDir
from .tracking import Tracker

log = logging.getLogger("fanno_spark")


@dataclass(frozen=True)
class Stage:
    """One step of the plan. `build(ctx)` returns the stage's DataFrame (written to <run dir>/<name>)."""

    name: str
    inputs: tuple[str, ...]
    build: Callable[[Context], DataFrame]
    what: str  # one line: what the stage does (the printed plan, the README table)
    round: int | None = None
    decides: bool = False  # output carries drop_reason: kept/yield, reasons and rejects/<name> recorded
    reasons: tuple[str, ...] | None = None  # only these drop reasons are this stage's own (judge)
    splits: str | None = None  # the kept side of a split: rejects of input `splits` go to rejects/<rejects_as>
    rejects_as: str | None = None
    reason_prefix: str | None = None
    skip_if: Callable[[Context], str | None] | None = None  # a reason not to run this round (and later ones)
    restore: Callable[[Context], None] | None = None  # driver state of a completed stage, on resume
    measure: Callable[[Context, DataFrame], None] | None = None  # extra metrics, saved with the stage's
    after: Callable[[Context, DataFrame], None] | None = None  # runs every time (checks, exports)
    partitions: int | None = None


class StopAfter(Exception):
    """Raised when --until names the stage just completed."""


class UndeclaredInput(RuntimeError):
    """A stage read an output it does not declare among its inputs (the plan would not know it depends on it)."""


class PlanError(ValueError):
    """The plan itself is wrong: a stage declares an input no earlier stage produces, or a name twice."""


def check_plan(plan: list[Stage]) -> None:
    """Every declared input is produced by an earlier stage of the plan; each name once. Pure: before Spark."""
    seen: set[str] = set()
    for st in plan:
        if st.name in seen:
            raise PlanError(f"stage {st.name}: named twice in the plan")
        missing = [i for i in st.inputs if i not in seen]
        if missing:
            raise PlanError(f"stage {st.name}: reads {', '.join(missing)}, which no earlier stage produces")
        seen.add(st.name)


@dataclass
class Context:
    """What stages share, passed explicitly: outputs by stage name, the driver's bandit, the LLM."""

    spark: SparkSession
    cfg: FannoConfig
    rd: RunDir
    fs: FileSystem
    tracker: Tracker | None
    model: str  # the logical model id used in prompt-cache keys
    spec: EngineSpec
    # a stage completed by an earlier run is read only when a later stage asks for it (a thunk until then):
    # a resumed or --until run touches the outputs it needs, not every stage before it
    outputs: dict[str, DataFrame | Callable[[], DataFrame]] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    info: dict[str, str] = field(default_factory=dict)
    bandit: UCBBandit | None = None
    shared: dict = field(default_factory=dict)  # built once per job, used by several stages (benchmarks)
    reused: list[str] = field(default_factory=list)  # stages an earlier run completed (a resumed run)
    transient: list[DataFrame] = field(default_factory=list)  # persisted for one stage, released after it

    reading: Stage | None = None  # the stage being built: it may read its declared inputs only

    def out(self, name: str) -> DataFrame:
        self._check_read(name)
        df = self.outputs[name]
        if not isinstance(df, DataFrame):
            df = self.outputs[name] = df()
        return df

    def has(self, name: str) -> bool:
        """Whether a declared input was produced in this run (a round a target or the documents ended is not)."""
        self._check_read(name)
        return name in self.outputs

    def _check_read(self, name: str) -> None:
        st = self.reading
        if st is not None and name not in st.inputs and name != st.splits:
            raise UndeclaredInput(f"stage {st.name} reads {name}, which it does not declare "
                                  f"(inputs: {', '.join(st.inputs) or 'none'})")

    def metric(self, key: str, value: float) -> None:
        self.metrics[key] = float(value)
        if self.tracker:
            self.tracker.log_metrics({key: value})

    def note(self, key: str, value: str) -> None:
        """A string fact about the run (e.g. the dtype the engines resolved): metrics.json + MLflow tag."""
        self.info[key] = value
        if self.tracker:
            self.tracker.set_tag(key, value)

    def sampling(self, max_tokens: int) -> Sampling:
        return Sampling(max_tokens=max_tokens, temperature=self.cfg.llm.temperature, top_p=self.cfg.llm.top_p,
                        seed=self.cfg.llm.seed)

    def doc_budget(self, sampling: Sampling, cap: int | None = None) -> DocBudget:
        """What of a document fits this stage's prompts: the model's context less its max_tokens, counted
        with the model's tokenizer (llm.max_doc_tokens, or the stage's own cap, may set less)."""
        return DocBudget(tokenizer=self.spec.model, context=self.cfg.llm.max_model_len, reserve=sampling.max_tokens,
                         cap=cap if cap is not None else self.cfg.llm.max_doc_tokens)

    def generate(self, prompts: DataFrame, sampling: Sampling, stage: str) -> DataFrame:
        """Prompts through the engine with the run's prompt cache; LLM numbers kept for the stage."""
        self.spark.sparkContext.setJobGroup(stage, f"fanno-spark LLM {stage}", interruptOnCancel=True)
        start = time.time()
        llm = self.cfg.llm
        out, stats = generate_cached(self.spark, prompts, self.spec, sampling, self.rd.uri("llm_cache"), self.fs,
                                     stage, partitions=llm.partitions, batch_size=llm.batch_size,
                                     gpus_per_task=llm.gpu_per_task, cpus_per_task=llm.cpus_per_task,
                                     commit_every=llm.commit_every)
        self.transient.append(out)
        numbers = stats.as_metrics(stage)
        for k, v in numbers.items():
            self.metric(k, v)
        if stats.dtypes:  # resolved on the executors; llm.dtype in the config may say "auto"
            numbers[f"{stage}.llm_dtype"] = ",".join(stats.dtypes)
            self.note(f"{stage}.llm_dtype", numbers[f"{stage}.llm_dtype"])
            seen = set(filter(None, self.info.get("llm.dtype_resolved", "").split(",")))
            self.note("llm.dtype_resolved", ",".join(sorted(seen | set(stats.dtypes))))
        log.info("[%s] LLM: %d prompts, %d from cache, %d sent, %d completion tokens in %.1fs (dtype %s)",
                 stage, stats.prompts, stats.cached, stats.sent, stats.completion_tokens, time.time() - start,
                 ",".join(stats.dtypes) or "n/a")
        return out


def _record(ctx: Context, st: Stage, df: DataFrame) -> None:
    """The bookkeeping every stage gets: rows, seconds, kept/yield, reasons, rejects (+ its own measure)."""
    rd = ctx.rd
    rows = rd.counts.get(st.name)
    ctx.metric(f"{st.name}.rows", rows if rows is not None else df.count())
    if st.name in rd.timings:
        ctx.metric(f"{st.name}.seconds", rd.timings[st.name])
    if st.splits:  # the split: rejected rows of the input, counted by reason, written aside
        decided = ctx.out(st.splits)
        _reasons(ctx, decided, st.reason_prefix or st.name)
        rd.write_parquet_once(f"rejects/{st.rejects_as or st.name}", decided.where(F.col("drop_reason").isNotNull()))
    if st.decides:
        own = df.where(F.col("drop_reason").isin(*st.reasons)) if st.reasons else df
        # kept and every reason in one job over the written stage
        counts = {r["drop_reason"]: r["count"] for r in df.groupBy("drop_reason").count().collect()}
        kept = counts.get(None, 0)
        ctx.metric(f"{st.name}.kept", kept)
        total = ctx.metrics.get(f"{st.name}.rows")
        if total:
            ctx.metric(f"{st.name}.yield", kept / total)
        for reason, n in counts.items():
            if reason is not None and (not st.reasons or reason in st.reasons):
                ctx.metric(f"{st.name}.dropped.{reason}", n)
        rd.write_parquet_once(f"rejects/{st.name}", own.where(F.col("drop_reason").isNotNull()))
    if st.measure:
        st.measure(ctx, df)


def _finish(ctx: Context, st: Stage, before: tuple[dict, dict]) -> None:
    """Record a stage's numbers once, when it completes, into metrics/<stage>.json; a resumed run reloads
    them (what the dataset cost, LLM calls included) instead of recounting every earlier stage."""
    saved = f"metrics/{st.name}.json"
    if st.name not in ctx.rd.timings:  # completed by an earlier run
        ctx.reused.append(st.name)
        if ctx.rd.exists(saved):
            for k, v in ctx.rd.read_json(saved).items():
                (ctx.note if isinstance(v, str) else ctx.metric)(k, v)
            return
    _record(ctx, st, ctx.out(st.name))
    numbers = {k: v for k, v in ctx.metrics.items() if before[0].get(k) != v}
    numbers.update({k: v for k, v in ctx.info.items() if before[1].get(k) != v})
    ctx.rd.write_json(saved, numbers)


def _reasons(ctx: Context, df: DataFrame, prefix: str) -> None:
    for row in df.where(F.col("drop_reason").isNotNull()).groupBy("drop_reason").count().collect():
        ctx.metric(f"{prefix}.dropped.{row['drop_reason']}", row["count"])


def _build(ctx: Context, st: Stage) -> DataFrame:
    """The stage's frame, built while only its declared inputs can be read."""
    ctx.reading = st
    try:
        return st.build(ctx)
    finally:
        ctx.reading = None


def run_plan(ctx: Context, plan: list[Stage], until: str | None = None) -> None:
    """Run the plan top to bottom. A stage whose round is not needed (skip_if) ends its round and every
    later one; the stages after the rounds (final) still run."""
    check_plan(plan)
    stopped_round: int | None = None
    for st in plan:
        if st.round is not None and stopped_round is not None and st.round >= stopped_round:
            continue
        done = ctx.rd.done(st.name)
        if done:
            if st.restore:
                st.restore(ctx)
        elif st.skip_if and (why := st.skip_if(ctx)):
            log.info("%s: no more rounds", why)
            stopped_round = st.round
            continue
        before = dict(ctx.metrics), dict(ctx.info)
        if done:
            ctx.rd.log(f"[{st.name}] complete in run dir, skipped")
            ctx.outputs[st.name] = lambda name=st.name: ctx.rd.read(name)
        else:
            ctx.outputs[st.name] = ctx.rd.stage(st.name, lambda st=st: _build(ctx, st), st.partitions)
        _finish(ctx, st, before)
        if ctx.tracker:
            ctx.tracker.flush()
        while ctx.transient:  # the stage is written and read back: what it persisted is not needed
            ctx.transient.pop().unpersist()
        if st.after:
            st.after(ctx, ctx.out(st.name))
        if until == st.name:
            raise StopAfter(st.name)
