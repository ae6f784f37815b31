"""Progress lines of a running stage come from Spark's status tracker for the stage's job group."""

import threading
import time

import pytest
from pyspark.sql import functions as F

from fanno_spark import progress as progress_mod
from fanno_spark.fs import LocalFS
from fanno_spark.progress import StageProgress
from fanno_spark.rundir import RunDir

pytestmark = pytest.mark.spark


def test_progress_lines_while_a_stage_runs_then_silence(spark, tmp_path):
    lines = []
    fs = LocalFS()
    rd = RunDir(fs.qualify(str(tmp_path)), spark, fs, log=lines.append, progress_interval_s=0.3)
    udf = F.udf(lambda x: time.sleep(0.4) or x, "long")  # a lambda pickles by value to the workers
    calls = []
    progress_mod.note("slow_stage", lambda: calls.append(1) or f"note {len(calls)}")
    try:
        out = rd.stage("slow_stage", lambda: spark.range(0, 12, numPartitions=4).select(udf("id").alias("id")))
    finally:
        progress_mod.note("slow_stage", None)
    assert out.count() == 12
    progress = [x for x in lines if x.startswith("[slow_stage] running")]
    assert progress, lines
    # "d/t tasks done": counts are real task numbers of this group's jobs, never above the total
    done, total = (int(v) for v in progress[-1].split(": ")[1].split(" tasks")[0].split("/"))
    assert total >= 4 and 0 <= done <= total
    # the stage's attached note (the LLM stage's tokens and occupancy) ends each line, asked afresh each time
    assert [x.rsplit("; ", 1)[1] for x in progress] == [f"note {i}" for i in range(1, len(progress) + 1)]
    assert lines[-1].startswith("[slow_stage] 12 rows in ")
    # the progress thread stopped with the stage (joined, not left to time out): no line can follow
    assert not [t for t in threading.enumerate() if t.name == "progress-slow_stage"]


def test_snapshot_of_a_finished_group_and_interval_zero_is_off(spark):
    spark.sparkContext.setJobGroup("done_group", "test")
    spark.range(0, 10, numPartitions=2).count()
    p = StageProgress(spark.sparkContext, "done_group", print, interval_s=0)
    with p:
        pass
    assert not p._thread.is_alive()
    snap = p.snapshot()
    assert snap["jobs"] >= 1 and snap["done"] == snap["tasks"] >= 2 and snap["running"] == 0
