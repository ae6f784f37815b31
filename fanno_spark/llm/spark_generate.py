"""Run prompts through an engine inside Spark (mapInPandas), with a prompt-hash cache in the run dir.

An LLM stage = build prompts -> anti-join the cache -> generate only the missing -> append to the
cache -> join back. A rerun, or a round that repeats a prompt, sends nothing it already paid for.
Each partition's prompts stream through one engine (no batch waits for its longest answer), sorted so
prompts sharing a prefix run together (vLLM's prefix cache reuses their KV blocks).
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import os
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pandas as pd
from pyspark import StorageLevel
from pyspark.accumulators import Accumulator, AccumulatorParam
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from .. import progress
from ..fs import FileSystem, join
from ..resources import llm_worker_pool, map_in_pandas_with_profile, resource_profile
from .registry import make_engine
from .types import Conversation, EngineSpec, Generation, Occupancy, Sampling

log = logging.getLogger("fanno_spark")
_ENGINES: dict[EngineSpec, object] = {}  # one engine per Python worker, reused across tasks

# logprobs: JSON {token: logprob} of the first generated token (null unless the stage asked for it);
# caches written before it existed read it as null. dtype: what the engine's weights ran in (lineage
# only, not part of the key: see prompt_hash).
CACHE_SCHEMA = ("prompt_hash string, text string, finish_reason string, "
                "prompt_tokens long, completion_tokens long, stage string, logprobs string, dtype string")


class _Max(AccumulatorParam):
    def zero(self, value):
        return 0

    def addInPlace(self, a, b):  # noqa: N802 - Spark's name
        return max(a, b)


class _Sum(AccumulatorParam):
    """Element-wise sums of equal-length lists (token counts) or unions of sets (dtypes)."""

    def zero(self, value):
        return set() if isinstance(value, set) else [0] * len(value)

    def addInPlace(self, a, b):  # noqa: N802 - Spark's name
        return a | b if isinstance(a, set) else [x + y for x, y in zip(a, b, strict=True)]


@dataclass
class _Counters:
    """What the executors report back for one stage, added as the answers are made: engine loads, engine steps
    and the sequences running in them, the most at once, prompt and completion tokens, the dtypes."""

    loads: Accumulator
    occupancy: Accumulator  # [steps, sequences summed over the steps]
    peak: Accumulator
    tokens: Accumulator  # [prompt, completion]
    dtypes: Accumulator
    failures: Accumulator  # [answers the engine gave up on (finish_reason error_*), requests retried]

    def describe(self) -> str:
        """For the periodic progress line: what finished tasks reported so far."""
        steps, running = self.occupancy.value
        prompt, completion = self.tokens.value
        occ = f", engine occupancy {running / steps:.1f} a step (max {self.peak.value})" if steps else ""
        return f"finished tasks: {prompt} prompt + {completion} completion tokens{occ}"

    @classmethod
    def new(cls, sc) -> _Counters:
        return cls(sc.accumulator(0), sc.accumulator([0, 0], _Sum()), sc.accumulator(0, _Max()),
                   sc.accumulator([0, 0], _Sum()), sc.accumulator(set(), _Sum()), sc.accumulator([0, 0], _Sum()))


def worker_engine(spec: EngineSpec, loads: Accumulator | None = None):
    """The worker's engine for this spec, loaded on first use; each load counts in `loads` (the stage's
    llm_engine_loads metric: more than one per executor means engines are being rebuilt)."""
    if spec not in _ENGINES:
        start = time.perf_counter()
        engine = make_engine(spec)
        engine.load()
        _ENGINES[spec] = engine
        if loads is not None:
            loads.add(1)
        log.info("engine loaded: %s %s in %.1fs (pool %s, pid %d)", spec.kind, spec.model,
                 time.perf_counter() - start, os.environ.get("FANNO_WORKER_POOL", "default"), os.getpid())
    return _ENGINES[spec]


def stream_answers(engine, items: Iterable[tuple[str, Conversation]], sampling: Sampling, batch_size: int,
                   occupancy: Occupancy) -> Iterator[tuple[str, Generation]]:
    """(prompt hash, conversation) -> (prompt hash, generation) as each finishes: through the engine's own
    stream where it has one (vLLM, the OpenAI-compatible server), else in blocks of batch_size."""
    stream = getattr(engine, "stream", None)
    if stream is not None:
        yield from stream(items, sampling, occupancy)
        return
    block: list[tuple[str, Conversation]] = []
    for item in itertools.chain(items, [None]):
        if item is not None:
            block.append(item)
        if block and (item is None or len(block) >= batch_size):
            occupancy.record(len(block))
            yield from zip([k for k, _ in block], engine.generate([c for _, c in block], sampling), strict=True)
            block = []


def _generate_partitions(spec: EngineSpec, sampling: Sampling, batch_size: int, stage: str, counters: _Counters):
    def frame(done: list[tuple[str, Generation]], dtype: str | None) -> pd.DataFrame:
        gens = [g for _, g in done]
        return pd.DataFrame({
            "prompt_hash": [k for k, _ in done],
            "text": [g.text for g in gens],
            "finish_reason": [g.finish_reason for g in gens],
            "prompt_tokens": [g.prompt_tokens for g in gens],
            "completion_tokens": [g.completion_tokens for g in gens],
            "stage": stage,
            "logprobs": [json.dumps(g.logprobs, ensure_ascii=False) if g.logprobs else None for g in gens],
            "dtype": dtype,
        })

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        items = ((h, json.loads(c)) for pdf in batches
                 for h, c in zip(pdf["prompt_hash"], pdf["conversation"], strict=True))
        first = next(items, None)
        if first is None:  # an empty partition loads no engine
            return
        engine = worker_engine(spec, counters.loads)
        dtype = getattr(engine, "loaded_dtype", None)
        occupancy, done, tokens, failed = Occupancy(), [], [0, 0], 0
        retried = getattr(engine, "retried", 0)
        for key, gen in stream_answers(engine, itertools.chain([first], items), sampling, batch_size, occupancy):
            done.append((key, gen))
            tokens[0] += gen.prompt_tokens
            tokens[1] += gen.completion_tokens
            failed += gen.finish_reason.startswith("error")
            if len(done) >= batch_size:  # answers leave as they finish, batch_size rows an Arrow batch
                yield frame(done, dtype)
                done = []
        if done:
            yield frame(done, dtype)
        counters.occupancy.add([occupancy.steps, occupancy.running])
        counters.peak.add(occupancy.peak)
        counters.tokens.add(tokens)
        counters.failures.add([failed, getattr(engine, "retried", 0) - retried])
        if dtype:
            counters.dtypes.add({dtype})
    return run


@dataclass
class LLMStats:
    prompts: int = 0
    cached: int = 0
    sent: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    engine_loads: int = 0  # engines built for this stage (0 when every worker had one already)
    # sequences the engine ran per step, over the steps of this stage: mean and maximum (0 when nothing was sent)
    occupancy_mean: float = 0.0
    occupancy_max: int = 0
    engine_seconds: float = 0.0  # wall time of the generation jobs (engine load included when one loaded)
    failed: int = 0  # answers the engine gave up on (an endpoint's error_4xx), cached as empty: paid, no text
    retried: int = 0  # requests the OpenAI-compatible engine sent again (429 / 5xx / timeouts)
    failed_tasks: int = 0  # Spark task attempts of the generation jobs that failed (their work was paid, then lost)
    dtypes: tuple[str, ...] = ()  # the precisions the engines that answered this stage ran in

    def as_metrics(self, stage: str) -> dict[str, float]:
        return {f"{stage}.llm_{k}": float(v) for k, v in self.__dict__.items() if k != "dtypes"}


def read_cache(spark: SparkSession, cache_dir: str, fs: FileSystem) -> DataFrame | None:
    """Every committed answer: the chunk folders (and the files of caches written before them, at the top)."""
    names = [name for name, _, _, _ in fs.list(cache_dir)]
    if not any(n.startswith("commit-") or n.endswith(".parquet") for n in names):
        return None
    return spark.read.schema(CACHE_SCHEMA).option("recursiveFileLookup", "true").parquet(cache_dir)


def _ordered(part: DataFrame, partitions: int) -> DataFrame:
    """Prompts that share a prefix next to each other, in the same partition: the engine's prefix cache reuses
    what the previous prompt computed (the same template, the same few-shots, the same document)."""
    spread = part.coalesce(1) if partitions == 1 else part.repartitionByRange(partitions, "conversation")
    return spread.sortWithinPartitions("conversation")


def generate_cached(spark: SparkSession, prompts: DataFrame, spec: EngineSpec, sampling: Sampling,
                    cache_dir: str, fs: FileSystem, stage: str, partitions: int = 1, batch_size: int = 64,
                    gpus_per_task: float = 0.0, cpus_per_task: int = 0,
                    commit_every: int = 2048) -> tuple[DataFrame, LLMStats]:
    """prompts(prompt_hash, conversation json) -> prompts + text, finish_reason, token counts.

    Missing prompts go out in chunks of about `commit_every`, each appended to the cache by its own
    Spark job: a killed driver loses at most the chunk in flight, and the rerun sends only the rest.
    `prompts` is read three times (count, generation, join back): pass it persisted when it is costly to
    build, and release it with the answered frame, which comes back persisted but not yet computed (the
    stage's own write computes it once; parsing and filtering then read it instead of the cache).
    """
    unique = prompts.select("prompt_hash", "conversation").dropDuplicates(["prompt_hash"])
    cache = read_cache(spark, cache_dir, fs)
    missing = unique.join(cache.select("prompt_hash"), "prompt_hash", "left_anti") if cache is not None else unique
    missing = missing.cache()
    stats = LLMStats(sent=missing.count())
    stats.prompts = stats.sent if cache is None else unique.count()
    stats.cached = stats.prompts - stats.sent
    chunks = max(1, math.ceil(stats.sent / commit_every))
    counters = _Counters.new(spark.sparkContext)
    fn = _generate_partitions(spec, sampling, batch_size, stage, counters)
    start = time.perf_counter()
    progress.note(stage, counters.describe)
    try:
        for i in range(chunks if stats.sent else 0):
            part = missing if chunks == 1 else missing.where(F.pmod(F.xxhash64("prompt_hash"), F.lit(chunks)) == i)
            with llm_worker_pool(spark.sparkContext):
                if gpus_per_task or cpus_per_task:
                    gen = map_in_pandas_with_profile(_ordered(part, partitions), fn, CACHE_SCHEMA,
                                                     resource_profile(gpus_per_task, cpus_per_task))
                else:
                    gen = _ordered(part, partitions).mapInPandas(fn, CACHE_SCHEMA)
            # Each chunk commits into a folder of its own, so jobs sharing one cache (a sweep's points, runs with
            # llm.cache_uri) never share a _temporary dir (one job's commit would delete the other's). A failed or
            # killed job leaves only _temporary files, which readers skip; the cache only grows, keyed by hash.
            gen.write.mode("errorifexists").parquet(join(cache_dir, f"commit-{int(time.time() * 1000)}-"
                                                                    f"{uuid.uuid4().hex[:12]}"))
            if chunks > 1:
                log.info("[%s] LLM answers committed to the cache: chunk %d/%d", stage, i + 1, chunks)
    finally:
        progress.note(stage, None)
    stats.engine_seconds = round(time.perf_counter() - start, 2)
    missing.unpersist()
    stats.engine_loads = counters.loads.value
    stats.failed, stats.retried = counters.failures.value
    stats.failed_tasks = progress.failed_tasks(spark.sparkContext, stage)
    steps, running = counters.occupancy.value
    if steps:
        stats.occupancy_mean = round(running / steps, 2)
        stats.occupancy_max = counters.peak.value
    cache = read_cache(spark, cache_dir, fs).dropDuplicates(["prompt_hash"])
    cols = [c for c in cache.columns if c not in ("stage", "dtype") and (c != "logprobs" or sampling.logprobs)]
    # counted on the executors as the answers were made: no job over the cache (a failed task's counts never
    # arrive; a stage Spark re-runs after a lost executor counts the work it paid for twice)
    stats.prompt_tokens, stats.completion_tokens = counters.tokens.value
    stats.dtypes = tuple(sorted(counters.dtypes.value))
    return prompts.join(cache.select(*cols), "prompt_hash", "left").persist(StorageLevel.MEMORY_AND_DISK), stats
