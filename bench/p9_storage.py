"""P9: the same job (fake engine, the storage tests' size) on the local disk, on HDFS (Hadoop's mini cluster on
loopback), on S3 (MinIO on loopback) with
Spark's default file committer, and on S3 with the S3A magic committer, back to back in one run; then each S3
committer's job killed (kill -9 of the driver) in its first LLM stage once one of its two tasks has committed,
and what it left in the bucket: objects under _temporary / __magic, and multipart uploads never completed
(storage the store bills until a lifecycle rule aborts them)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))
sys.path.insert(0, str(ROOT / "tests" / "doubles"))

FILE = {}  # Spark's default: FileOutputCommitter v1 (tasks write under _temporary, job commit renames = copies)
MAGIC = {"spark.hadoop.fs.s3a.committer.name": "magic", "spark.hadoop.fs.s3a.committer.magic.enabled": "true",
         "spark.sql.sources.commitProtocolClass": "org.apache.spark.internal.io.cloud.PathOutputCommitProtocol",
         "spark.sql.parquet.output.committer.class":
             "org.apache.spark.internal.io.cloud.BindingParquetOutputCommitter"}
JOB = ["--config", "conf/local.yaml", "--set", "llm.engine=fanno_doubles:FakeEngine", "--set", "llm.model=fake",
       "--set", "input.max_docs=80", "--set", "sample.max_docs=12", "--set", "seeds.docs=4",
       "--set", "tags.prompts_per_doc=2", "--set", "augment.window=4", "--set", "augment.rounds=1",
       "--set", "report.enabled=false", "--set", "spark.master=local[2]"]


def _cmd(out: str, tmp: Path, conf: dict, input_path: str) -> list[str]:
    return [sys.executable, "-m", "fanno_spark", *JOB, "--output", out, "--set", f"input.path={input_path}",
            "--set", f"spark.conf={json.dumps(conf)}", "--set", f"tracking.uri=sqlite:///{tmp / 'mlflow.db'}"]


def _env() -> dict:
    path = os.pathsep.join([str(ROOT / "tests" / "doubles"), os.environ.get("PYTHONPATH", "")])
    return dict(os.environ, PYTHONPATH=path, PYTHONUNBUFFERED="1")


def _timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return round(time.perf_counter() - start, 1)


def _killed(cmd: list[str], minio, prefix: str) -> str:
    """Run with the first LLM stage split over 2 tasks, kill -9 the driver (and what it started) as soon as the
    bucket holds a committed task's files that the job has not committed yet (polled), and say what was seen."""
    env = dict(_env(), FANNO_FAKE_DELAY_S="1.0")
    proc = subprocess.Popen([*cmd, "--set", "llm.partitions=2"], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline, seen = time.time() + 600, "no task output before the job ended"
    c = minio.client()
    while time.time() < deadline and proc.poll() is None:
        keys = [k for k in minio.keys("lake", prefix) if "/llm_cache/" in k]
        uploads = c.list_multipart_uploads(Bucket="lake", Prefix=prefix).get("Uploads", [])
        if any("_temporary/" in k or "__magic" in k for k in keys) or uploads:
            seen = "killed with a task's output waiting for the job commit"
            break
        time.sleep(0.2)  # polling the bucket
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return seen


def run() -> list[dict]:
    from servers import MiniHdfs, Minio

    tmp = Path(tempfile.mkdtemp(prefix="p9-"))
    minio = Minio(tmp).start()
    hdfs = MiniHdfs(tmp).start()
    try:
        minio.bucket("lake")
        minio.client().upload_file(str(ROOT / "data" / "sample" / "pydocs.jsonl.gz"), "lake", "data/pydocs.jsonl.gz")
        s3_in = "s3a://lake/data/pydocs.jsonl.gz"
        base = minio.spark_conf()
        rows = []
        local = _timed(_cmd(str(tmp / "local"), tmp, {}, str(ROOT / "data" / "sample" / "pydocs.jsonl.gz")))
        rows.append({"bench": "P9", "what": "job on the local disk", "seconds": local, "ratio": 1.0})
        hdfs.put(ROOT / "data" / "sample" / "pydocs.jsonl.gz", "/data/pydocs.jsonl.gz")
        secs = _timed(_cmd(hdfs.url("/runs/job"), tmp, {}, hdfs.url("/data/pydocs.jsonl.gz")))
        rows.append({"bench": "P9", "what": "job on HDFS (mini cluster, 1 DataNode)", "seconds": secs,
                     "ratio": round(secs / local, 3)})
        for name, conf in (("file", FILE), ("magic", MAGIC)):
            secs = _timed(_cmd(f"s3a://lake/runs/{name}", tmp, {**base, **conf}, s3_in))
            rows.append({"bench": "P9", "what": f"job on S3 (MinIO), {name} committer", "seconds": secs,
                         "ratio": round(secs / local, 3)})
        for name, conf in (("file", FILE), ("magic", MAGIC)):
            prefix = f"runs/killed-{name}/"
            seen = _killed(_cmd(f"s3a://lake/{prefix}", tmp, {**base, **conf}, s3_in), minio, prefix)
            keys = minio.keys("lake", prefix)
            uploads = minio.client().list_multipart_uploads(Bucket="lake", Prefix=prefix).get("Uploads", [])
            rows.append({"bench": "P9", "what": f"{seen} ({name} committer): "
                         f"{sum('_temporary' in k for k in keys)} objects under _temporary, "
                         f"{sum('__magic' in k for k in keys)} under __magic, {len(uploads)} multipart uploads "
                         f"open, {len(keys)} objects in all"})
        return rows
    finally:
        hdfs.stop()
        minio.stop()
