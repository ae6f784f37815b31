"""The job against a real S3 API (MinIO on loopback) through hadoop-aws 3.3.4's S3A: input and run dir on
s3a://, the S3A magic committer the README tells users to set, `final` as a Delta table; the same job on
the local disk is the reference, row by row (the fake engine is deterministic). Also: the run dir lock as
a conditional PUT (two jobs on one s3a:// run dir, exactly one runs) and the store stopped mid-stage."""

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from cli_runner import ROOT, run_cli
from servers import Minio

from fanno_spark.s3_conditional import put_if_absent

pytestmark = pytest.mark.storage
BASE = ["--config", "conf/local.yaml", "--set", "llm.engine=fanno_doubles:FakeEngine", "--set", "llm.model=fake",
        "--set", "input.max_docs=80", "--set", "sample.max_docs=12", "--set", "seeds.docs=4",
        "--set", "tags.prompts_per_doc=2", "--set", "augment.window=4", "--set", "augment.rounds=1",
        "--set", "report.enabled=false", "--set", "spark.master=local[2]"]
# The S3A committer for Spark's Parquet writes (README "S3"): tasks write straight to their final objects
# as uploads completed only at job commit, so nothing is renamed (a rename on S3 is a copy).
MAGIC = {"spark.hadoop.fs.s3a.committer.name": "magic", "spark.hadoop.fs.s3a.committer.magic.enabled": "true",
         "spark.sql.sources.commitProtocolClass": "org.apache.spark.internal.io.cloud.PathOutputCommitProtocol",
         "spark.sql.parquet.output.committer.class":
             "org.apache.spark.internal.io.cloud.BindingParquetOutputCommitter"}
PAIR_COLUMNS = ["instruction", "input", "output", "doc_id", "round", "task_type", "instruction_id"]


@pytest.fixture(scope="module")
def minio(tmp_path_factory):
    server = Minio(tmp_path_factory.mktemp("minio")).start()
    server.bucket("lake")
    server.client().upload_file(str(ROOT / "data" / "sample" / "pydocs.jsonl.gz"), "lake", "data/pydocs.jsonl.gz")
    yield server
    server.stop()


def s3_args(minio, name: str, tmp: Path, *extra: str) -> list[str]:
    conf = {**minio.spark_conf(), **MAGIC}
    return [*BASE, "--set", f"spark.conf={json.dumps(conf)}", "--set", "input.path=s3a://lake/data/pydocs.jsonl.gz",
            "--set", "output.format=delta", "--output", f"s3a://lake/runs/{name}",
            "--set", f"tracking.uri=sqlite:///{tmp / 'mlflow.db'}", *extra]


def _pairs(final: Path) -> pd.DataFrame:
    return pd.read_parquet(final).sort_values(["round", "instruction_id"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def local_reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "run"
    start = time.time()
    proc = run_cli([*BASE, "--output", str(out), "--set", f"tracking.uri=sqlite:///{out.parent / 'mlflow.db'}"])
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return out, time.time() - start


@pytest.fixture(scope="module")
def s3_run(minio, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("s3")
    start = time.time()
    proc = run_cli(s3_args(minio, "job", tmp))
    seconds = time.time() - start
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return minio.mirror("lake", "runs/job", tmp / "job"), proc, seconds


def test_the_job_on_s3_gives_the_local_dataset_as_a_delta_table(s3_run, local_reference, minio):
    run, proc, seconds = s3_run
    local, local_seconds = local_reference
    print(f"job seconds: s3a + magic committer {seconds:.1f}, local disk {local_seconds:.1f}")
    pd.testing.assert_frame_equal(_pairs(run / "final")[PAIR_COLUMNS], _pairs(local / "final")[PAIR_COLUMNS])
    assert (run / "final" / "_delta_log" / "00000000000000000000.json").is_file()
    assert not (run / "final" / "_delta_log" / "00000000000000000001.json").exists()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["final.delta_version"] == "0" and metrics["final.pairs"] == len(_pairs(run / "final"))
    # Parquet stages went through the magic committer: its _SUCCESS is a JSON manifest naming it
    success = json.loads((run / "pairs_r0" / "_SUCCESS").read_text())
    assert success["committer"] == "magic" and success["filenames"]
    assert not [k for k in minio.keys("lake", "runs/job/") if "__magic" in k]  # no pending uploads left
    assert (run / "export" / "alpaca.json").is_file() and (run / "done" / "card.json").is_file()
    import mlflow

    run_id = proc.stdout.split("mlflow run: ")[1].split()[0]
    logged = {d.dataset.name: d.dataset for d in mlflow.MlflowClient(
        tracking_uri=f"sqlite:///{run.parent / 'mlflow.db'}").get_run(run_id).inputs.dataset_inputs}
    assert logged["instructions"].source_type == "delta_table"
    source = json.loads(logged["instructions"].source)
    assert source["path"] == "s3a://lake/runs/job/final"
    assert json.loads(logged["instructions"].profile)["delta_version"] == 0  # MLflow's source omits a version 0
    assert json.loads(logged["corpus"].source)["path"] == "s3a://lake/data/pydocs.jsonl.gz"


def test_conditional_put_lets_exactly_one_writer_create_the_lock(minio):
    conf = {"fs.s3a.endpoint": minio.endpoint, "fs.s3a.access.key": minio.user, "fs.s3a.secret.key": minio.password,
            "fs.s3a.path.style.access": "true"}
    wins, start = [], threading.Barrier(8)

    def racer(i):
        start.wait()
        wins.append(put_if_absent(conf, "s3a://lake/race/.fanno.lock", f"writer {i}".encode()))

    threads = [threading.Thread(target=racer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False] * 7 + [True]
    body = minio.client().get_object(Bucket="lake", Key="race/.fanno.lock")["Body"].read().decode()
    assert body == f"writer {wins.index(True)}" or body.startswith("writer ")


def test_two_jobs_started_together_on_one_s3_run_dir_exactly_one_runs(minio, tmp_path):
    cmd = [sys.executable, "-m", "fanno_spark", *s3_args(minio, "twins", tmp_path, "--until", "docs_kept")]
    procs = [subprocess.Popen(cmd, cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(2)]  # started within milliseconds of each other
    results = [p.communicate(timeout=900) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 2], results
    loser = next(err for p, (_, err) in zip(procs, results, strict=True) if p.returncode == 2)
    assert "is in use by another fanno-spark job" in loser and "advisory" not in loser + results[0][0]
    assert not [k for k in minio.keys("lake", "runs/twins/") if k.endswith(".fanno.lock")]  # released


def test_store_stopped_mid_stage_the_job_retries_through_it(minio, local_reference, tmp_path):
    """MinIO stopped while round 0's answers are being committed, started again 8 s later: S3A retries
    (fs.s3a.retry.*, the SDK's own retries), the job ends, and its dataset is the uninterrupted one."""
    cmd = [sys.executable, "-m", "fanno_spark", *s3_args(minio, "outage", tmp_path, "--set", "llm.commit_every=2")]
    proc = subprocess.Popen(cmd, cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**__import__("os").environ, "PYTHONUNBUFFERED": "1", "FANNO_FAKE_DELAY_S": "0.5"})
    seen, outage = [], None
    for line in proc.stdout:
        seen.append(line)
        if outage is None and "[instructions_r0] LLM answers committed to the cache: chunk 1/" in line:
            minio.stop()
            outage = time.time()
            time.sleep(8)  # the outage itself
            minio.start()
    proc.wait(timeout=60)
    assert outage, "".join(seen[-30:])
    assert proc.returncode == 0, "".join(seen[-40:])
    run = minio.mirror("lake", "runs/outage", tmp_path / "outage")
    pd.testing.assert_frame_equal(_pairs(run / "final")[PAIR_COLUMNS], _pairs(local_reference[0] / "final")[PAIR_COLUMNS])
    cache = pd.read_parquet(run / "llm_cache")
    assert cache["prompt_hash"].is_unique
