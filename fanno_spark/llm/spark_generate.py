"""Run prompts through an engine inside Spark (mapInPandas), with a prompt-hash cache in the run dir.

An LLM stage = build prompts -> anti-join the cache -> generate only the missing -> append to the
cache -> join back. A rerun, or a round that repeats a prompt, sends nothing it already paid for.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd
from pyspark import StorageLevel
from pyspark.accumulators import Accumulator
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ..fs import FileSystem
from ..resources import llm_worker_pool, map_in_pandas_with_profile, resource_profile
from .registry import make_engine
from .types import EngineSpec, Sampling

log = logging.getLogger("fanno_spark")
_ENGINES: dict[EngineSpec, object] = {}  # one engine per Python worker, reused across tasks

# logprobs: JSON {token: logprob} of the first generated token (null unless the stage asked for it);
# caches written before it existed read it as null. dtype: what the engine's weights ran in (lineage
# only, not part of the key: see prompt_hash).
CACHE_SCHEMA = ("prompt_hash string, text string, finish_reason string, "
                "prompt_tokens long, completion_tokens long, stage string, logprobs string, dtype string")


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


def _generate_partitions(spec: EngineSpec, sampling: Sampling, batch_size: int, stage: str, loads: Accumulator):
    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        engine = None
        for pdf in batches:
            for start in range(0, len(pdf), batch_size):
                chunk = pdf.iloc[start:start + batch_size]
                if chunk.empty:
                    continue
                engine = engine or worker_engine(spec, loads)
                gens = engine.generate([json.loads(c) for c in chunk["conversation"]], sampling)
                yield pd.DataFrame({
                    "prompt_hash": chunk["prompt_hash"].to_numpy(),
                    "text": [g.text for g in gens],
                    "finish_reason": [g.finish_reason for g in gens],
                    "prompt_tokens": [g.prompt_tokens for g in gens],
                    "completion_tokens": [g.completion_tokens for g in gens],
                    "stage": stage,
                    "logprobs": [json.dumps(g.logprobs, ensure_ascii=False) if g.logprobs else None for g in gens],
                    "dtype": getattr(engine, "loaded_dtype", None),
                })
    return run


@dataclass
class LLMStats:
    prompts: int = 0
    cached: int = 0
    sent: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    engine_loads: int = 0  # engines built for this stage (0 when every worker had one already)
    dtypes: tuple[str, ...] = ()  # the precisions the engines that answered this stage ran in

    def as_metrics(self, stage: str) -> dict[str, float]:
        return {f"{stage}.llm_{k}": float(v) for k, v in self.__dict__.items() if k != "dtypes"}


def generate_cached(spark: SparkSession, prompts: DataFrame, spec: EngineSpec, sampling: Sampling,
                    cache_dir: str, fs: FileSystem, stage: str, partitions: int = 1, batch_size: int = 64,
                    gpus_per_task: float = 0.0, cpus_per_task: int = 0,
                    commit_every: int = 2048) -> tuple[DataFrame, LLMStats]:
    """prompts(prompt_hash, conversation json) -> prompts + text, finish_reason, token counts.

    Missing prompts go out in chunks of about `commit_every`, each appended to the cache by its own
    Spark job: a killed driver loses at most the chunk in flight, and the rerun sends only the rest.
    The prompts are built once (persisted while the stage counts, anti-joins and joins them back), and
    the answered frame comes back persisted and materialised: parsing, filtering and writing the stage
    read it instead of rebuilding every prompt and re-reading the cache. The caller unpersists it.
    """
    prompts = prompts.persist(StorageLevel.MEMORY_AND_DISK)
    unique = prompts.select("prompt_hash", "conversation").dropDuplicates(["prompt_hash"])
    cache_path = cache_dir
    has_cache = any(name == "_SUCCESS" or name.endswith(".parquet") for name, _, _, _ in fs.list(cache_dir))
    cache = spark.read.schema(CACHE_SCHEMA).parquet(cache_path) if has_cache else None
    missing = unique.join(cache.select("prompt_hash"), "prompt_hash", "left_anti") if cache is not None else unique
    missing = missing.cache()
    stats = LLMStats(prompts=unique.count(), sent=missing.count())
    stats.cached = stats.prompts - stats.sent
    chunks = max(1, math.ceil(stats.sent / commit_every))
    loads = spark.sparkContext.accumulator(0)
    fn = _generate_partitions(spec, sampling, batch_size, stage, loads)
    for i in range(chunks if stats.sent else 0):
        part = missing if chunks == 1 else missing.where(F.pmod(F.xxhash64("prompt_hash"), F.lit(chunks)) == i)
        with llm_worker_pool(spark.sparkContext):
            if gpus_per_task or cpus_per_task:
                gen = map_in_pandas_with_profile(part.repartition(partitions), fn, CACHE_SCHEMA,
                                                 resource_profile(gpus_per_task, cpus_per_task))
            else:
                gen = part.repartition(partitions).mapInPandas(fn, CACHE_SCHEMA)
        # An append commits when its job does (a failed or killed job leaves only _temporary files,
        # which readers skip); the cache only ever grows, keyed by prompt hash.
        gen.write.mode("append").parquet(cache_path)
        if chunks > 1:
            log.info("[%s] LLM answers committed to the cache: chunk %d/%d", stage, i + 1, chunks)
    missing.unpersist()
    stats.engine_loads = loads.value
    cache = spark.read.schema(CACHE_SCHEMA).parquet(cache_path).dropDuplicates(["prompt_hash"])
    cols = [c for c in cache.columns if c not in ("stage", "dtype") and (c != "logprobs" or sampling.logprobs)]
    # token sums and the engines' dtypes in one job, over the answers this stage paid for
    sent = cache.where(F.col("stage") == stage).join(unique.select("prompt_hash"), "prompt_hash")
    row = sent.agg(F.sum("prompt_tokens"), F.sum("completion_tokens"), F.collect_set("dtype")).first()
    stats.prompt_tokens, stats.completion_tokens = int(row[0] or 0), int(row[1] or 0)
    if stats.sent:
        stats.dtypes = tuple(sorted(d for d in row[2] if d))
    out = prompts.join(cache.select(*cols), "prompt_hash", "left").persist(StorageLevel.MEMORY_AND_DISK)
    out.count()  # materialised now, so the prompts' own copy can go
    prompts.unpersist()
    return out, stats
