"""Walks a plan of stages over the run dir: skips completed stages, writes outputs, and records rows,
timings, kept/yield, drop reasons and rejects, the same way for every stage. A stage is a frame (Parquet
under <run dir>/<name>) or a file stage (writes files, marked done under <run dir>/done/)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from .config import FannoConfig
from .fs import FileSystem
from .rundir import RunDir
from .tracking import Tracker

log = logging.getLogger("fanno_spark")


@dataclass(frozen=True)
class Stage:
    """One step of the plan. `build(ctx)` returns the stage's DataFrame (written to <run dir>/<name>), or for a
    file stage (`files=True`) writes its files and returns their URIs."""

    name: str
    inputs: tuple[str, ...]
    build: Callable[[Context], DataFrame | list[str]]
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
    files: bool = False
    # config keys or whole sections (dotted) the output depends on: with the inputs' keys they make the stage's
    # store key (stage_keys.py), under which a sweep's points share the output; reading any other key refuses
    reads: tuple[str, ...] = ()
    shareable: bool = True  # False: always in the run dir, never a sweep's store (the dataset itself: final)


class StopAfter(Exception):
    """Raised when --until names the stage just completed."""


class UndeclaredInput(RuntimeError):
    """A stage read an output it does not declare among its inputs (the plan would not know it depends on it)."""


class UndeclaredConfig(RuntimeError):
    """A stage read a config key it does not declare in `reads` (its store key would not change with it)."""


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
    """What stages share, passed explicitly: outputs by stage name, their sizes, the driver's bandit, the LLM."""

    spark: SparkSession
    cfg: FannoConfig
    rd: RunDir
    fs: FileSystem
    tracker: Tracker | None
    llm: Any = None  # llm.stage.LLMRun: the engine, cache-key model id and prompt cache every LLM stage shares
    # a stage completed by an earlier run is read only when a later stage asks for it (a thunk until then):
    # a resumed or --until run touches the outputs it needs, not every stage before it
    outputs: dict[str, DataFrame | Callable[[], DataFrame]] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    info: dict[str, str] = field(default_factory=dict)
    bandit: Any = None  # generate.ucb.UCBBandit, kept on the driver between rounds
    sizes: dict[str, tuple[int, int | None]] = field(default_factory=dict)  # stage -> (rows, kept)
    shared: dict = field(default_factory=dict)  # built once per job, used by several stages (benchmarks)
    reused: list[str] = field(default_factory=list)  # stages an earlier run completed (a resumed run)
    transient: list[DataFrame] = field(default_factory=list)  # persisted for one stage, released after it
    from_store: list[str] = field(default_factory=list)  # stages another run of a sweep computed (shared)

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
        if st is not None and name not in st.inputs and name not in (st.splits, st.name):
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

    def rows(self, name: str) -> int:
        """Rows a completed stage wrote (this run or an earlier one): round control reads values, not metrics."""
        return self.sizes[name][0]

    def kept(self, name: str) -> int:
        """Rows a completed deciding stage kept."""
        kept = self.sizes[name][1]
        if kept is None:
            raise KeyError(f"stage {name} does not decide (no kept count)")
        return kept


def _record(ctx: Context, st: Stage, df: DataFrame) -> None:
    """The bookkeeping every stage gets: rows, seconds, kept/yield, reasons, rejects (+ its own measure)."""
    rd = ctx.rd
    rows = rd.counts.get(st.name)
    rows = rows if rows is not None else df.count()
    ctx.metric(f"{st.name}.rows", rows)
    ctx.sizes[st.name] = (rows, None)
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
        ctx.sizes[st.name] = (rows, kept)
        ctx.metric(f"{st.name}.kept", kept)
        if rows:
            ctx.metric(f"{st.name}.yield", kept / rows)
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
    stored = ctx.rd.store_metrics(st.name)  # a shared stage's numbers beside its output, for every point
    if st.name not in ctx.rd.timings:  # completed by an earlier run (of this point, or of another: shared)
        here = ctx.rd.exists(saved)
        (ctx.reused if here or stored is None else ctx.from_store).append(st.name)
        if here or (stored is not None and ctx.fs.exists(stored)):
            numbers = ctx.rd.read_json(saved) if here else json.loads(ctx.fs.read_text(stored))
            for k, v in numbers.items():
                (ctx.note if isinstance(v, str) else ctx.metric)(k, v)
            size = f"{st.name}.files" if st.files else f"{st.name}.rows"
            if size in numbers:
                kept = numbers.get(f"{st.name}.kept")
                ctx.sizes[st.name] = (int(numbers[size]), int(kept) if kept is not None else None)
                return
    if st.files:
        if st.name not in ctx.sizes:  # done by an earlier run that saved no numbers: its marker lists the files
            ctx.sizes[st.name] = (len(ctx.rd.read_json(f"done/{st.name}.json")["files"]), None)
        ctx.metric(f"{st.name}.files", ctx.sizes[st.name][0])
        if st.name in ctx.rd.timings:
            ctx.metric(f"{st.name}.seconds", ctx.rd.timings[st.name])
    else:
        with _reading(ctx, st, stored is not None):  # its measure counts into the shared numbers too
            _record(ctx, st, ctx.out(st.name))
    numbers = {k: v for k, v in ctx.metrics.items() if before[0].get(k) != v}
    numbers.update({k: v for k, v in ctx.info.items() if before[1].get(k) != v})
    ctx.rd.write_json(saved, numbers)
    if stored is not None and st.name in ctx.rd.timings:
        ctx.fs.write_text(stored, json.dumps(numbers, indent=2, sort_keys=True, default=str))


def _reasons(ctx: Context, df: DataFrame, prefix: str) -> None:
    for row in df.where(F.col("drop_reason").isNotNull()).groupBy("drop_reason").count().collect():
        ctx.metric(f"{prefix}.dropped.{row['drop_reason']}", row["count"])


class _Reads:
    """The config as a stage sees it while its key matters: a section or key outside `reads` raises.
    A section declared whole is the real (frozen) object; a partly declared one is checked key by key."""

    def __init__(self, node, reads: tuple[str, ...], stage: str, prefix: str = ""):
        self._node, self._reads, self._stage, self._prefix = node, reads, stage, prefix

    def __getattr__(self, name: str):
        key = f"{self._prefix}{name}"
        value = getattr(self._node, name)
        if any(key == r or key.startswith(r + ".") for r in self._reads):
            return value
        if any(r.startswith(key + ".") for r in self._reads):
            return _Reads(value, self._reads, self._stage, key + ".")
        raise UndeclaredConfig(f"stage {self._stage} reads config {key}, which it does not declare "
                               f"(reads: {', '.join(self._reads) or 'none'})")


@contextmanager
def _reading(ctx: Context, st: Stage, key_matters: bool):
    """Only the stage's declared inputs can be read; a stage with a store key, only its declared config."""
    cfg = ctx.cfg
    ctx.reading = st
    if key_matters:
        ctx.cfg = _Reads(cfg, st.reads, st.name)
    try:
        yield
    finally:
        ctx.reading, ctx.cfg = None, cfg


def _build(ctx: Context, st: Stage):
    """The stage's frame (or files), built while only its declared inputs (and config) can be read."""
    with _reading(ctx, st, st.name in ctx.rd.locations):
        return st.build(ctx)


def _write_files(ctx: Context, st: Stage) -> None:
    """A file stage: its files written, then its marker (a killed run leaves none, and writes them again)."""
    start = time.time()
    files = _build(ctx, st)
    ctx.rd.timings[st.name] = round(time.time() - start, 2)
    ctx.sizes[st.name] = (len(files), None)
    ctx.rd.mark_done(st.name, files)
    ctx.rd.log(f"[{st.name}] {len(files)} files in {ctx.rd.timings[st.name]}s")


def run_plan(ctx: Context, plan: list[Stage], until: str | None = None) -> None:
    """Run the plan top to bottom. A stage whose round is not needed (skip_if) ends its round and every
    later one; the stages after the rounds (final) still run."""
    check_plan(plan)
    stopped_round: int | None = None
    for st in plan:
        if st.round is not None and stopped_round is not None and st.round >= stopped_round:
            continue
        done = ctx.rd.done(st.name, files=st.files)
        if done:
            if st.restore:
                st.restore(ctx)
        elif st.skip_if and (why := st.skip_if(ctx)):
            log.info("%s: no more rounds", why)
            stopped_round = st.round
            continue
        before = dict(ctx.metrics), dict(ctx.info)
        if done:
            where = "the sweep's shared store" if st.name in ctx.rd.locations else "run dir"
            ctx.rd.log(f"[{st.name}] complete in {where}, skipped")
            if not st.files:
                ctx.outputs[st.name] = lambda name=st.name: ctx.rd.read(name)
        elif st.files:
            _write_files(ctx, st)
        else:
            ctx.outputs[st.name] = ctx.rd.stage(st.name, lambda st=st: _build(ctx, st), st.partitions)
        _finish(ctx, st, before)
        if ctx.tracker:
            ctx.tracker.flush()
        while ctx.transient:  # the stage is written and read back: what it persisted is not needed
            ctx.transient.pop().unpersist()
        if st.after:
            st.after(ctx, None if st.files else ctx.out(st.name))
        if until == st.name:
            raise StopAfter(st.name)
