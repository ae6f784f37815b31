"""One job per run dir: a live owner blocks, a dead one (kill -9) is taken over; reuse needs --resume."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from fanno_spark.cli import check_run_dir
from fanno_spark.config import load_config
from fanno_spark.runlock import LOCK_NAME, RunDirLocked, run_lock

ROOT = Path(__file__).resolve().parents[2]


def test_second_lock_on_the_same_dir_is_refused_while_the_first_holds_it(tmp_path):
    with run_lock(tmp_path):
        owner = json.loads((tmp_path / LOCK_NAME).read_text())
        assert owner["pid"] == os.getpid() and owner["host"] == socket.gethostname()
        with pytest.raises(RunDirLocked, match=rf"in use by another fanno-spark job \(pid {os.getpid()} on "):
            with run_lock(tmp_path):
                pass
    assert not (tmp_path / LOCK_NAME).exists()  # released
    with run_lock(tmp_path):  # and free again
        pass


def test_lock_of_a_killed_process_is_taken_over(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(), "since": "x"}))
    taken = []
    with run_lock(tmp_path, log=taken.append):
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
    assert taken and "taken over" in taken[0]


def test_lock_of_a_reused_pid_is_taken_over(tmp_path):
    # our own pid, but a different process start time: the original owner is gone, the pid was reused
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                                  "start_ticks": "1"}))
    with run_lock(tmp_path, log=lambda _: None):
        pass


def test_lock_from_another_host_is_respected(tmp_path):
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": 1, "host": "some-other-host", "since": "t"}))
    with pytest.raises(RunDirLocked, match=f"delete {tmp_path / LOCK_NAME}"):
        with run_lock(tmp_path):
            pass


def _done(run_dir: Path, *stages: str) -> None:
    for i, s in enumerate(stages):
        (run_dir / s).mkdir(parents=True)
        (run_dir / s / "_SUCCESS").touch()
        os.utime(run_dir / s / "_SUCCESS", (1_000_000 + i, 1_000_000 + i))


def test_reusing_a_run_dir_needs_resume_and_the_same_generation_config(tmp_path):
    cfg = load_config(None, ["input.path=data/sample/pydocs.jsonl.gz"])
    assert check_run_dir(tmp_path, cfg, resume=False) is None  # empty dir: fine
    _done(tmp_path, "docs", "docs_scored")
    msg = check_run_dir(tmp_path, cfg, resume=False)
    assert "2 stages complete, last docs_scored" in msg and "pass --resume" in msg
    import yaml

    from fanno_spark.config import to_dict
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg)))
    assert check_run_dir(tmp_path, cfg, resume=True) is None
    # more rounds, another tracking server or more partitions extend a run; a new model would mix datasets
    safe = load_config(None, ["input.path=data/sample/pydocs.jsonl.gz", "augment.rounds=5", "llm.partitions=8",
                              "tracking.uri=http://x:5000"])
    assert check_run_dir(tmp_path, safe, resume=True) is None
    other = load_config(None, ["input.path=data/sample/pydocs.jsonl.gz", "llm.temperature=0.1", "seeds.max_tokens=7"])
    assert "in llm.temperature, seeds.max_tokens" in check_run_dir(tmp_path, other, resume=True)


def test_cli_refuses_a_locked_run_dir_before_any_stage(tmp_path):
    with run_lock(tmp_path):
        proc = subprocess.run([sys.executable, "-m", "fanno_spark", "--config", "conf/local.yaml", "--output",
                               str(tmp_path)], cwd=ROOT, text=True, capture_output=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith(f"error: run dir {tmp_path} is in use by another fanno-spark job")
    assert not (tmp_path / "docs").exists()  # no stage ran
