"""The one generic LLM stage: rows -> the task's prompts (keyed by the very Sampling they are generated with)
-> the cached engine -> the task's parse -> `drop_reason` (no answer: `no_generation`, else the task's)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ..fs import FileSystem
from .spark_generate import LLMStats, generate_cached
from .task import LLMTask
from .types import EngineSpec, prompt_hash

log = logging.getLogger("fanno_spark")

KEY_FIELDS = (T.StructField("prompt_hash", T.StringType()), T.StructField("conversation", T.StringType()))


@dataclass(frozen=True)
class LLMRun:
    """What every LLM stage of a run shares: the engine, the logical model id of the cache keys, the cache."""

    spark: SparkSession
    spec: EngineSpec
    model: str
    cache_uri: str
    fs: FileSystem
    partitions: int = 1
    batch_size: int = 64
    commit_every: int = 2048
    gpus_per_task: float = 0.0
    cpus_per_task: int = 0


def build_prompts(rows: DataFrame, task: LLMTask, model: str) -> DataFrame:
    """rows -> one row per prompt: the row's columns (less those the task consumes), the task's prompt fields,
    prompt_hash and the conversation (JSON)."""
    carried = [f for f in rows.schema.fields if f.name not in task.consumed]
    schema = T.StructType([*carried, *task.prompt_fields, *KEY_FIELDS])
    names = schema.fieldNames()
    keep = [f.name for f in carried]

    def build(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for pdf in batches:
            out = []
            for row in pdf.to_dict("records"):
                for values, conv in task.conversations(row):
                    out.append({**{k: row[k] for k in keep}, **values,
                                "prompt_hash": prompt_hash(model, task.sampling, conv),
                                "conversation": json.dumps(conv, ensure_ascii=False)})
            yield pd.DataFrame(out, columns=names)

    return rows.mapInPandas(build, schema)


def parse_answers(generated: DataFrame, task: LLMTask) -> DataFrame:
    """generated prompts -> + the task's parsed fields and drop_reason."""
    out_type = T.StructType([*task.parsed_fields, T.StructField("drop_reason", T.StringType())])
    names = out_type.fieldNames()

    @F.pandas_udf(out_type)
    def parse(text: pd.Series, finish: pd.Series, logprobs: pd.Series, inputs: pd.DataFrame) -> pd.DataFrame:
        rows = inputs.to_dict("records") if task.parse_inputs else [{}] * len(text)
        out = []
        for t, f, lp, row in zip(text, finish, logprobs, rows, strict=True):
            if t is None:
                out.append({"drop_reason": "no_generation"})
                continue
            values, reason = task.parse(t, f, lp, row)
            out.append({**values, "drop_reason": reason})
        return pd.DataFrame(out, columns=names)

    cols = set(generated.columns)
    logprobs = F.col("logprobs") if "logprobs" in cols else F.lit(None).cast("string")
    inputs = F.struct(*task.parse_inputs) if task.parse_inputs else F.struct(F.lit(None).cast("string").alias("_"))
    return (generated.withColumn("_parsed", parse(F.col("text"), F.col("finish_reason"), logprobs, inputs))
            .select(*[c for c in generated.columns], "_parsed.*"))


def run_task(run: LLMRun, task: LLMTask, rows: DataFrame) -> tuple[DataFrame, LLMStats, list[DataFrame]]:
    """The task over `rows` through the run's cached engine -> (the parsed frame, the stage's LLM numbers, the
    persisted frames it reads: release them once the stage is written)."""
    if "drop_reason" in rows.columns:
        raise ValueError(f"{task.stage}: an LLM task's rows must not carry drop_reason (pass the kept rows)")
    run.spark.sparkContext.setJobGroup(task.stage, f"fanno-spark LLM {task.stage}", interruptOnCancel=True)
    start = time.time()
    prompts = build_prompts(rows, task, run.model).persist(StorageLevel.MEMORY_AND_DISK)  # built once
    generated, stats = generate_cached(run.spark, prompts, run.spec, task.sampling,
                                       run.cache_uri, run.fs, task.stage, partitions=run.partitions,
                                       batch_size=run.batch_size, gpus_per_task=run.gpus_per_task,
                                       cpus_per_task=run.cpus_per_task, commit_every=run.commit_every)
    log.info("[%s] LLM: %d prompts, %d from cache, %d sent, %d completion tokens in %.1fs (dtype %s); engine "
             "occupancy %.1f sequences a step on average, %d at most", task.stage, stats.prompts, stats.cached,
             stats.sent, stats.completion_tokens, time.time() - start, ",".join(stats.dtypes) or "n/a",
             stats.occupancy_mean, stats.occupancy_max)
    return parse_answers(generated, task), stats, [generated, prompts]


def llm_stage(ctx, task: LLMTask, rows: DataFrame) -> DataFrame:
    """run_task inside a plan stage: `ctx` (the runner's Context) supplies the run's LLMRun as `ctx.llm` and
    receives the stage's numbers (metrics.json, MLflow); the answers are released after the stage."""
    out, stats, persisted = run_task(ctx.llm, task, rows)
    ctx.transient.extend(persisted)
    for k, v in stats.as_metrics(task.stage).items():
        ctx.metric(k, v)
    ctx.metric("llm.engine_loads", ctx.metrics.get("llm.engine_loads", 0) + stats.engine_loads)
    if stats.dtypes:  # resolved on the executors; llm.dtype in the config may say "auto"
        ctx.note(f"{task.stage}.llm_dtype", ",".join(stats.dtypes))
        seen = set(filter(None, ctx.info.get("llm.dtype_resolved", "").split(",")))
        ctx.note("llm.dtype_resolved", ",".join(sorted(seen | set(stats.dtypes))))
    return out
