"""Stage-level scheduling (Spark ResourceProfile) for the stages that need other executors than the
rest of the job: the LLM stages and, when configured, the embedding stage (GPU executors)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import types as T

_ENV_LOCK = threading.RLock()  # one llm_worker_pool block at a time per driver


@contextmanager
def llm_worker_pool(sc):
    """Python functions created inside this block run in the executors' LLM pool of Python workers.

    Spark keeps a pool of reusable Python workers per distinct worker environment (captured from
    `sc.environment` when a function is created) and hands a task the longest-idle one. In one shared
    pool an executor's workers take turns, so each worker an LLM task lands on loads its own engine:
    the real-model test job on local[1] loaded SmolLM2 twice (~30 s each), and on a GPU executor a second
    engine asks for the memory the first one holds. Its own pool keeps the LLM tasks on the worker that
    loaded the engine; that pool's daemon imports vLLM, the default one does not.

    Thread-safe: Spark iterates `sc.environment` when it wraps a function, so the shared dict is never
    changed in place; the block puts a changed copy in its place and puts the original back. Blocks of
    several threads (two stages of a notebook at once) take turns; a function another thread creates
    outside any block meanwhile lands in the LLM pool too (a worker of the other pool, no wrong result).
    """
    with _ENV_LOCK:
        saved = sc.environment
        env = dict(saved)
        env["FANNO_WORKER_POOL"] = "llm"
        if "FANNO_LLM_WORKER_PRELOAD" in env:
            env["FANNO_WORKER_PRELOAD"] = env["FANNO_LLM_WORKER_PRELOAD"]
        sc.environment = env
        try:
            yield
        finally:
            sc.environment = saved


def resource_profile(gpus: float, cpus: int):
    """The stage's tasks each ask for `gpus` GPUs (and `cpus` cores); the rest of the job keeps the default
    profile. Spark supports it on standalone (dynamic allocation off), YARN and Kubernetes, not in local mode."""
    from pyspark.resource import ResourceProfileBuilder, TaskResourceRequests

    req = TaskResourceRequests()
    if cpus:
        req = req.cpus(cpus)
    if gpus:
        req = req.resource("gpu", gpus)
    return ResourceProfileBuilder().require(req).build


def map_in_pandas_with_profile(df: DataFrame, fn: Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]],
                               schema: T.StructType | str, profile, chunk_rows: int = 1024) -> DataFrame:
    """df.mapInPandas(fn, schema) with a ResourceProfile: mapInPandas cannot take one in Spark 3.5, so this
    runs as an RDD mapPartitions with the profile attached; rows reach `fn` as pandas chunks."""
    cols = df.columns
    spark = df.sparkSession
    if not isinstance(schema, T.StructType):
        schema = spark.createDataFrame([], schema).schema
    fields = schema.fieldNames()

    def part(rows):
        def chunks():
            buf = []
            for row in rows:
                buf.append(tuple(row))
                if len(buf) >= chunk_rows:
                    yield pd.DataFrame(buf, columns=cols)
                    buf = []
            if buf:
                yield pd.DataFrame(buf, columns=cols)
        for out in fn(chunks()):
            yield from out[fields].itertuples(index=False, name=None)

    return spark.createDataFrame(df.rdd.mapPartitions(part).withResources(profile), schema)
