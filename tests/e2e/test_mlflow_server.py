"""The job logging to a real `mlflow server` (sqlite backend, served artifacts) on 127.0.0.1, then the
comparison notebook reading two runs of different generation configs back from it: one run from the
Databricks job notebook (run as a plain script: no dbutils, widgets from the environment), one from the
CLI. The deterministic fake engine generates: what is under test is the tracking path and the notebooks'
plumbing (the real model logs to sqlite in test_job.py)."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from cli_runner import run_cli
from PIL import Image

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
PLANTED_PII = " Reach me at jane.doe@example.com or (555) 123-4567; card 4111 1111 1111 1111, host 203.0.113.7."
SMALL = ["llm.engine=fanno_doubles:FakeEngine", "llm.model=fake", "input.max_docs=60", "sample.max_docs=4", "seeds.docs=2",
         "tags.prompts_per_doc=2", "augment.window=2", "augment.rounds=1", "spark.master=local[2]"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("mlflow")
    port = _free_port()
    # Job execution off: otherwise the server spawns worker processes that outlive a plain kill.
    env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    log = open(home / "server.log", "w")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1",
                             "--port", str(port), "--workers", "1",
                             "--backend-store-uri", f"sqlite:///{home / 'mlflow.db'}",
                             "--artifacts-destination", str(home / "artifacts")],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if urllib.request.urlopen(f"{uri}/health", timeout=2).status == 200:
                    break
            except OSError:
                time.sleep(1)
        else:
            pytest.fail("mlflow server not healthy in 120 s:\n" + (home / "server.log").read_text()[-3000:])
        yield uri, home
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the whole process group: gunicorn/uvicorn workers included
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def _notebook_run(out: Path, overrides: list[str], cwd: Path) -> subprocess.CompletedProcess:
    nb = ROOT / "notebooks" / "fanno_databricks.py"
    text = nb.read_text()
    assert text.startswith("# Databricks notebook source\n") and text.count("# COMMAND ----------") >= 3
    assert "dbutils.widgets.text(\"config\"" in text
    env = dict(os.environ, FANNO_OUTPUT=str(out), PYTHONUNBUFFERED="1", FANNO_OVERRIDES=";".join(overrides))
    proc = subprocess.run([sys.executable, str(nb)], cwd=cwd, env=env, text=True, capture_output=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["docs.rows"] == 60 and metrics["final.pairs"] > 0
    assert ">>>" in proc.stdout  # the dataset cell printed samples
    return proc


def test_runs_on_a_real_server_and_the_comparison_notebook(server, tmp_path):
    import mlflow

    uri, home = server
    runs = {}
    for name, temperature in (("greedy", 0.0), ("warm", 0.8)):
        out = tmp_path / name
        sets = [*SMALL, f"tracking.uri={uri}", "tracking.experiment=gen-configs", f"tracking.run_name={name}",
                f"llm.temperature={temperature}"]
        if name == "greedy":  # the Databricks job notebook, as a plain script
            proc = _notebook_run(out, sets, tmp_path)
        else:  # the CLI; this model writes personal data into every answer: it must not reach the export
            proc = run_cli(["--config", "conf/local.yaml", "--output", str(out),
                            *[a for s in sets for a in ("--set", s)]], env={"FANNO_FAKE_APPEND": PLANTED_PII})
            assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert f"(tracking uri {uri})" in proc.stdout
        # one worker daemon for the whole job, MiniLM's libraries imported in it once (spark.preload: auto)
        assert proc.stderr.count("fanno-spark worker daemon: torch imported") == 1, proc.stderr[-2000:]
        # the LLM stages' own pool of Python workers: one engine for the whole job, though local[2]
        assert json.loads((out / "metrics.json").read_text())["llm.engine_loads"] == 1, proc.stderr[-2000:]
        runs[name] = (proc.stdout.split("mlflow run: ")[1].split()[0], out)
    assert not (tmp_path / "greedy" / "mlflow.db").exists()  # nothing fell back to the embedded store

    client = mlflow.MlflowClient(tracking_uri=uri)
    for name, (run_id, out) in runs.items():
        run = client.get_run(run_id)
        assert run.info.status == "FINISHED" and run.info.run_name == name
        assert run.data.params["llm.temperature"] == str({"greedy": 0.0, "warm": 0.8}[name])
        pairs = len(pd.read_parquet(out / "final"))
        assert run.data.metrics["final.pairs"] == pairs and run.data.metrics["docs.rows"] == 60
        assert run.data.metrics["instructions_r0.llm_completion_tokens"] > 0
        top = {a.path for a in client.list_artifacts(run_id)}
        assert {"config.yaml", "ucb", "dataset"} <= top
        assert pairs > 0  # the report is built from the final data: served artifacts, real PNGs
        report = {a.path for a in client.list_artifacts(run_id, "report")}
        assert {f"report/{n}.png" for n in ("lengths", "verb_noun", "tag_coverage", "diversity")} <= report
        local = client.download_artifacts(run_id, "report/tag_coverage.png", str(tmp_path / f"dl-{name}"))
        with Image.open(local) as im:
            assert im.format == "PNG"
        assert run.data.metrics["report.tag_coverage"] > 0
        # lineage in the run's Datasets panel, served by the server; the card logged with the data
        inputs = {d.dataset.name: json.loads(d.dataset.profile)["num_rows"] for d in run.inputs.dataset_inputs}
        assert inputs == {"corpus": 60, "instructions": pairs}
        assert "dataset/README.md" in {a.path for a in client.list_artifacts(run_id, "dataset")}
        assert "resumed" not in run.data.tags
        exported = (out / "export" / "alpaca.json").read_text()
        for value in ("jane.doe@example.com", "4111 1111 1111 1111", "(555) 123-4567", "203.0.113.7"):
            assert value not in exported
        got = {k: run.data.metrics[f"pii.generated.{k}"] for k in ("email", "credit_card", "phone", "ip")}
        assert exported.count("<EMAIL_ADDRESS>") == got["email"]
        if name == "warm":  # once per answer at least (instructions that kept the suffix add more)
            assert min(got.values()) >= pairs
    assert any((home / "artifacts").rglob("lengths.png"))  # stored by the server, not by the client

    nb = ROOT / "notebooks" / "compare_runs.py"
    assert nb.read_text().startswith("# Databricks notebook source\n")
    env = dict(os.environ, FANNO_EXPERIMENT="gen-configs", FANNO_TRACKING_URI=uri, FANNO_OUT=str(tmp_path / "cmp"))
    proc = subprocess.run([sys.executable, str(nb)], cwd=tmp_path, env=env, text=True, capture_output=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "params that differ:" in proc.stdout and "llm.temperature" in proc.stdout
    table = pd.read_csv(tmp_path / "cmp" / "compare.csv")
    assert len(table) == 2 and "llm.temperature" in table.columns and "tracking.run_name" in table.columns
    assert sorted(table["pairs"]) == sorted(len(pd.read_parquet(o / "final")) for _, o in runs.values())
    assert (tmp_path / "cmp" / "metrics.png").stat().st_size > 10_000
    json.dumps(table.to_dict())  # plain values, printable as a table


def test_a_sweep_from_the_notebooks_grid_widget_holds_its_comparison_on_the_server(server, tmp_path):
    """The job notebook with a grid: a 2-point sweep whose parent run on the real server holds the comparison
    (table, plots) and whose children hold only the varied param; `compare --parent` reads it back."""
    import mlflow

    uri, _ = server
    out = tmp_path / "sweep"
    sets = [*SMALL, "augment.rounds=0", "report.enabled=false", f"tracking.uri={uri}",
            "tracking.experiment=sweeps"]
    env = dict(os.environ, FANNO_OUTPUT=str(out), PYTHONUNBUFFERED="1", FANNO_OVERRIDES=";".join(sets),
               FANNO_GRID="llm.temperature=0.0,0.8")
    proc = subprocess.run([sys.executable, str(ROOT / "notebooks" / "fanno_databricks.py")], cwd=tmp_path, env=env,
                          text=True, capture_output=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "# sweep " in proc.stdout and ">>>" in proc.stdout  # the comparison, then point 1's dataset
    parent_id = proc.stdout.split("mlflow parent run: ")[1].split()[0]
    client = mlflow.MlflowClient(tracking_uri=uri)
    parent = client.get_run(parent_id)
    assert parent.info.status == "FINISHED" and parent.data.metrics["sweep.points"] == 2
    exp = parent.info.experiment_id
    children = client.search_runs([exp], f"tags.mlflow.parentRunId = '{parent_id}'")
    assert sorted(r.data.params["llm.temperature"] for r in children) == ["0.0", "0.8"]
    assert all(set(r.data.params) == {"llm.temperature"} for r in children)
    # served artifacts: the table MLflow shows, and the plot, downloaded from the server
    local = Path(client.download_artifacts(parent_id, "compare", str(tmp_path / "dl")))
    assert {p.name for p in local.iterdir()} >= {"compare.md", "compare.csv", "points.json", "metrics.png",
                                                  "drops.png"}
    with Image.open(local / "metrics.png") as im:
        assert im.format == "PNG"
    shown = json.loads((local / "points.json").read_text())
    assert len(shown["data"]) == 2 and "llm.temperature" in shown["columns"]
    table = pd.read_csv(local / "compare.csv")
    assert list(table["pairs"]) == [len(pd.read_parquet(out / "points" / p / "final")) for p in ("p1", "p2")]
    proc = run_cli(["compare", "--parent", parent_id, "--tracking-uri", uri, "--out", str(tmp_path / "cmp")],
                   timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert pd.read_csv(tmp_path / "cmp" / "compare.csv")["llm.temperature"].tolist() == [0.0, 0.8]
