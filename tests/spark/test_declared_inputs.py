"""The runner hands a stage only the outputs it declares: a read of any other fails before the stage's first
Spark job, and nothing is written for it."""

import pytest

from fanno_spark.fs import LocalFS
from fanno_spark.rundir import RunDir
from fanno_spark.runner import Context, Stage, UndeclaredInput, run_plan

pytestmark = pytest.mark.spark


def test_reading_an_undeclared_input_fails_before_spark_runs_the_stage(spark, tmp_path):
    fs = LocalFS()
    rd = RunDir(fs.qualify(str(tmp_path)), spark, fs, log=lambda line: None, progress_interval_s=0)
    ctx = Context(spark, None, rd, fs, None)
    jobs_before = []

    def sneaky(c):
        jobs_before.append(len(spark.sparkContext.statusTracker().getJobIdsForGroup("b")))
        return c.out("a").union(c.out("b0"))  # b0 ran, but b never declared it

    plan = [Stage("a", (), lambda c: spark.range(3), "a"), Stage("b0", (), lambda c: spark.range(2), "b0"),
            Stage("b", ("a",), sneaky, "b")]
    with pytest.raises(UndeclaredInput, match=r"stage b reads b0, which it does not declare \(inputs: a\)"):
        run_plan(ctx, plan)
    assert jobs_before == [0] and not spark.sparkContext.statusTracker().getJobIdsForGroup("b")
    assert (tmp_path / "a" / "_SUCCESS").exists() and not (tmp_path / "b").exists()
    declared = [Stage("a", (), lambda c: spark.range(3), "a"), Stage("b", ("a",), lambda c: c.out("a"), "b")]
    run_plan(Context(spark, None, RunDir(fs.qualify(str(tmp_path / "ok")), spark, fs, log=lambda line: None,
                                         progress_interval_s=0), fs, None), declared)
    assert (tmp_path / "ok" / "b" / "_SUCCESS").exists()


def test_a_file_stage_is_marked_done_after_its_files_and_skipped_on_resume(spark, tmp_path):
    fs = LocalFS()
    calls = []

    def write(c):
        calls.append(c.rows("a"))  # a file stage reads its declared input's size as a value
        return [c.rd.write_text("export/out.txt", "hello")]

    def plan():
        return [Stage("a", (), lambda c: spark.range(3), "a"), Stage("files", ("a",), write, "files", files=True)]

    for _ in range(2):
        ctx = Context(spark, None, RunDir(fs.qualify(str(tmp_path)), spark, fs, log=lambda line: None,
                                          progress_interval_s=0), fs, None)
        run_plan(ctx, plan())
    assert calls == [3]  # the second run found the marker and wrote nothing
    assert ctx.reused == ["a", "files"] and ctx.metrics["files.files"] == 1 and ctx.rows("files") == 1
    assert (tmp_path / "export" / "out.txt").read_text() == "hello"
    marker = (tmp_path / "done" / "files.json").read_text()
    assert "export/out.txt" in marker and not (tmp_path / "files").exists()
