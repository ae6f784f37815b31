"""spark-submit to a real Spark standalone cluster: a master and two workers started from pyspark's
own launcher (bin/spark-class) on 127.0.0.1, the project shipped as a zip with --py-files, GraphFrames
by --jars, the LLM stages under a ResourceProfile (stage-level scheduling, which local mode lacks).
The cluster is torn down by process id."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from fanno_spark.spark_env import locked_jars_csv

pytestmark = pytest.mark.cluster
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, timeout: float = 90) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"nothing listening on {port}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    import pyspark

    spark_class = Path(pyspark.__file__).parent / "bin" / "spark-class"
    tmp = tmp_path_factory.mktemp("cluster")
    env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1", SPARK_WORKER_DIR=str(tmp / "work"),
               PYSPARK_PYTHON=sys.executable, SPARK_NO_DAEMONIZE="1")
    port = _port()
    procs = []

    def start(args, name):
        log = open(tmp / f"{name}.log", "w")  # noqa: SIM115
        procs.append(subprocess.Popen([str(spark_class), *args], env=env, stdout=log, stderr=subprocess.STDOUT,
                                      start_new_session=True))

    start(["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
           "--webui-port", str(_port())], "master")
    _wait_port(port)
    url = f"spark://127.0.0.1:{port}"
    for i in range(2):
        start(["org.apache.spark.deploy.worker.Worker", url, "--host", "127.0.0.1", "--cores", "1",
               "--memory", "6g", "--webui-port", str(_port())], f"worker{i}")
    deadline = time.time() + 90
    while time.time() < deadline and sum("Successfully registered with master" in (tmp / f"worker{i}.log").read_text()
                                         for i in range(2)) < 2:
        time.sleep(1)
    registered = sum("Successfully registered with master" in (tmp / f"worker{i}.log").read_text() for i in range(2))
    assert registered == 2, f"{registered} of 2 workers registered in 90 s:\n" + (tmp / "worker0.log").read_text()[-2000:]
    yield url, tmp
    for p in procs:  # teardown by process id (each in its own session: its group goes with it)
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
    assert all(p.poll() is not None for p in procs)


def _package_zip(dest: Path) -> Path:
    """What a user ships with --py-files: the fanno_spark package (code + prompt templates)."""
    zpath = dest / "fanno_spark.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        for f in (ROOT / "fanno_spark").rglob("*"):
            if f.is_file() and "__pycache__" not in f.parts:
                z.write(f, f.relative_to(ROOT))
    return zpath


def test_spark_submit_to_standalone_cluster(cluster, tmp_path):
    url, logs = cluster
    out = tmp_path / "run"
    start = time.time()
    cmd = [str(BIN / "spark-submit"), "--master", url, "--deploy-mode", "client",
           "--py-files", str(_package_zip(tmp_path)), "--jars", locked_jars_csv(),
           "--conf", f"spark.pyspark.python={sys.executable}", "--conf", "spark.executor.memory=2g",
           "--conf", "spark.executor.cores=1", "--driver-memory", "2g",
           "jobs/fanno.py", "--config", "conf/local.yaml", "--output", str(out),
           "--set", "spark.master=null", "--set", "sample.max_docs=4", "--set", "tags.prompts_per_doc=2",
           "--set", "augment.rounds=0",
           "--set", "llm.cpus_per_task=1", "--set", "llm.threads=1", "--set", "input.max_docs=60",
           # the embedding stage under its own ResourceProfile, as conf/cluster.yaml runs it on GPU executors
           "--set", "embed.cpus_per_task=1",
           # the LLM on the executors under its ResourceProfile is what this checks; the later stages run
           # the same code as in local mode (tests/e2e/test_job.py), so the run stops after the first LLM stage
           "--until", "instructions_r0"]
    proc = subprocess.run(cmd, cwd=ROOT, env=dict(os.environ, SPARK_LOCAL_IP="127.0.0.1"), text=True,
                          capture_output=True, timeout=1500)
    wall = time.time() - start
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-4000:]
    print(f"cluster job wall time: {wall:.1f}s")
    (Path(__file__).parent / ".last-wall-seconds").write_text(f"{wall:.1f}\n")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["docs.rows"] == 60 and metrics["instructions_r0.llm_sent"] == 8
    assert metrics["instructions_r0.llm_completion_tokens"] > 0  # the real model answered on the executors
    instructions = pd.read_parquet(out / "instructions_r0")
    assert len(instructions) == metrics["instructions_r0.rows"] > 0 and not (out / "pairs_r0").exists()
    vecs = pd.read_parquet(out / "docs_vec")  # embedded under the stage's ResourceProfile
    assert len(vecs) == metrics["passages.rows"] and vecs["embedding"].map(len).eq(384).all()
    # the work ran on the workers' executors, not in the driver
    executor_logs = list((logs / "work").rglob("stderr"))
    assert executor_logs and any("Running task" in f.read_text(errors="replace") for f in executor_logs)
    # one engine on the cluster: the LLM task's worker comes from the executors' LLM pool of Python workers
    assert metrics["llm.engine_loads"] == 1 and metrics["instructions_r0.llm_engine_loads"] == 1
    shutil.rmtree(out / "_checkpoints", ignore_errors=True)
