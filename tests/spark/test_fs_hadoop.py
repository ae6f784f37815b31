"""The filesystem layer through Hadoop's FileSystem on a real non-local URI: viewfs:// mounted on a
local folder (ViewFileSystem resolves it like any cluster filesystem; local file APIs cannot)."""

import json
import uuid

import pytest

from fanno_spark.config import InputConfig
from fanno_spark.fs import HadoopFS, join
from fanno_spark.io.preflight import check_remote_input
from fanno_spark.io.readers import InputError, detect_format
from fanno_spark.rundir import RunDir
from fanno_spark.runlock import LOCK_NAME, RunDirLocked, completed_stages, run_lock

pytestmark = pytest.mark.spark


@pytest.fixture
def lake(spark, tmp_path):
    """viewfs://<unique>/runs -> tmp_path/runs (a fresh mount table: Hadoop caches FileSystem objects)."""
    name = f"lake{uuid.uuid4().hex[:8]}"
    (tmp_path / "runs").mkdir()
    spark.sparkContext._jsc.hadoopConfiguration().set(f"fs.viewfs.mounttable.{name}.link./runs",
                                                      (tmp_path / "runs").as_uri())
    return f"viewfs://{name}/runs", tmp_path / "runs"


def test_files_round_trip_through_viewfs(spark, lake):
    root, local = lake
    fs = HadoopFS(spark)
    run = join(root, "r1")
    assert fs.qualify(run) == run and not fs.exists(run)
    fs.write_text(join(run, "ucb", "round-0.json"), json.dumps({"t": 1}))
    assert json.loads((local / "r1" / "ucb" / "round-0.json").read_text()) == {"t": 1}  # landed in the mount
    assert not (local / "r1" / "ucb" / "round-0.json.tmp").exists()
    assert json.loads(fs.read_text(join(run, "ucb", "round-0.json"))) == {"t": 1}
    assert fs.atomic_create(run)
    assert fs.create_new(join(run, "x.lock"), b"a") and not fs.create_new(join(run, "x.lock"), b"b")
    assert fs.read_bytes(join(run, "x.lock")) == b"a"
    png = local.parent / "plot.png"
    png.write_bytes(b"\x89PNG")
    fs.upload(png, join(run, "report", "plot.png"))
    assert (local / "r1" / "report" / "plot.png").read_bytes() == b"\x89PNG"
    assert [n for n, _, _, _ in fs.list(run)] == ["report", "ucb", "x.lock"]
    fs.delete(join(run, "report"))
    assert not (local / "r1" / "report").exists()


def test_stages_markers_and_lock_on_viewfs(spark, lake):
    root, local = lake
    fs = HadoopFS(spark)
    run = join(root, "r2")
    rd = RunDir(run, spark, fs, log=lambda _: None)
    built = []
    df = rd.stage("docs", lambda: built.append(1) or spark.range(5).toDF("n"))
    assert df.count() == 5 and (local / "r2" / "docs" / "_SUCCESS").exists() and rd.done("docs")
    rd.stage("docs", lambda: built.append(2) or spark.range(7).toDF("n"))
    assert built == [1]  # complete: skipped, never rebuilt
    assert completed_stages(run, fs) == ["docs"]
    with run_lock(run, fs=fs):
        assert (local / "r2" / LOCK_NAME).exists()
        with pytest.raises(RunDirLocked, match="in use by another fanno-spark job"):
            with run_lock(run, fs=fs):
                pass
    assert not (local / "r2" / LOCK_NAME).exists()


def test_remote_input_checks(spark, lake):
    root, local = lake
    fs = HadoopFS(spark)
    with pytest.raises(InputError, match=r"^input.path: viewfs://.*/missing does not exist$"):
        check_remote_input(InputConfig(path=join(root, "missing")), fs)
    (local / "empty").mkdir()
    with pytest.raises(InputError, match="holds no files"):
        check_remote_input(InputConfig(path=join(root, "empty")), fs)
    (local / "empty" / "a.jsonl").write_text("")
    with pytest.raises(InputError, match="empty corpus"):
        check_remote_input(InputConfig(path=join(root, "empty")), fs)
    (local / "corpus").mkdir()
    (local / "corpus" / "a.jsonl").write_text(json.dumps({"id": "1", "text": "hello"}) + "\n")
    check_remote_input(InputConfig(path=join(root, "corpus")), fs)
    assert detect_format(join(root, "corpus"), fs) == "jsonl"
