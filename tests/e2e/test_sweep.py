"""A 4-point sweep (2 filter thresholds x 2 temperatures) on the bundled corpus with the deterministic fake
engine, killed by SIGKILL in the middle of point 2 and resumed: the pre-screen runs once for all points, an
equal prompt is sent once, the resumed sweep pays nothing twice, and MLflow holds one parent run with a child
per point and the comparison. (The real model's generation is covered in test_job.py; here what is checked is
what is shared and paid, which the fake makes exact.)"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from cli_runner import run_cli

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
PRESCREEN = ["docs", "docs_scored", "docs_dedup", "docs_kept", "passages", "docs_vec", "edges", "communities",
             "docs_selected"]
GRID = ["--grid", "filter.max_similarity=0.9,0.8", "--grid", "llm.temperature=0.3,0.9"]


def base(out: Path) -> list[str]:
    return ["sweep", "--config", "conf/local.yaml", "--set", "llm.engine=fanno_doubles:FakeEngine",
            "--set", "llm.model=fake", "--set", "input.max_docs=80", "--set", "sample.max_docs=12",
            "--set", "seeds.docs=4", "--set", "tags.prompts_per_doc=2", "--set", "augment.rounds=0",
            "--set", "llm.batch_size=2", "--set", "llm.commit_every=2", "--set", "report.enabled=false",
            "--set", "spark.master=local[2]", "--output", str(out), *GRID]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """The sweep killed once point 2 has committed part of its seed instructions, refused without --resume,
    then resumed to the end."""
    out = tmp_path_factory.mktemp("sweep") / "sw"
    cmd = [sys.executable, "-m", "fanno_spark", *base(out)]
    env = dict(os.environ, PYTHONUNBUFFERED="1", FANNO_FAKE_DELAY_S="1.0")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    seen, point2, killed, deadline = [], False, False, time.time() + 600
    try:
        for line in proc.stdout:
            seen.append(line)
            point2 = point2 or "sweep point 2/4" in line
            if point2 and "[instructions_r0] LLM answers committed to the cache: chunk 1/" in line:
                os.kill(proc.pid, signal.SIGKILL)  # the driver only, as an OOM killer or node loss would
                killed = True
                break
            assert time.time() < deadline, "".join(seen[-30:])
    finally:
        proc.wait(timeout=60)
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # leftovers (JVM, workers) must not outlive the test
        except ProcessLookupError:
            pass
    assert killed, "".join(seen[-40:])
    before = pd.read_parquet(out / "llm_cache")
    p1_done = json.loads((out / "points" / "p1" / "point_done.json").read_text())
    again = run_cli(base(out), timeout=300)
    resumed = run_cli([*base(out), "--resume"], timeout=900)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    return {"out": out, "before": before, "p1_done": p1_done, "again": again, "resumed": resumed}


def metrics(out: Path, point: str) -> dict:
    return json.loads((out / "points" / point / "metrics.json").read_text())


def test_a_killed_sweep_resumes_without_paying_anything_twice(sweep):
    out, before, resumed = sweep["out"], sweep["before"], sweep["resumed"]
    assert sweep["again"].returncode == 2 and "pass --resume" in sweep["again"].stderr
    assert "p1 (filter.max_similarity=0.9, llm.temperature=0.3): " in resumed.stdout
    assert "(finished earlier)" in resumed.stdout.split("p1 (")[1].splitlines()[0]  # point 1 is not run again
    p1 = json.loads((out / "points" / "p1" / "point_done.json").read_text())
    assert p1 == sweep["p1_done"]
    # point 2's answers committed before the kill come from the cache; only the rest is sent
    committed_r0 = before[before["stage"] == "instructions_r0"]
    p1_r0 = metrics(out, "p1")["instructions_r0.llm_sent"]
    m2 = metrics(out, "p2")
    assert len(committed_r0) > p1_r0  # p1's 8 and p2's first chunk
    assert m2["instructions_r0.llm_cached"] == len(committed_r0) - p1_r0
    assert m2["instructions_r0.llm_sent"] == m2["instructions_r0.llm_prompts"] - m2["instructions_r0.llm_cached"]
    after = pd.read_parquet(out / "llm_cache")
    assert after["prompt_hash"].is_unique  # no prompt answered twice, across the kill and the points
    sent_after_kill = int(resumed.stdout.split(" prompts sent; comparison")[0].rsplit(", ", 1)[1])
    assert sent_after_kill == len(after) - len(before)
    # point 2 read its pre-screen from the store (computed by point 1), before and after the kill
    assert set(json.loads((out / "points" / "p2" / "point_done.json").read_text())["shared"]) >= set(PRESCREEN)


def test_the_prescreen_runs_once_and_an_equal_prompt_is_sent_once(sweep):
    out = sweep["out"]
    stored = sorted(p.name.rsplit("-", 1)[0] for p in (out / "stages").iterdir() if p.is_dir())
    assert [s for s in stored if s in PRESCREEN] == sorted(PRESCREEN)  # one folder per pre-screen stage
    assert stored.count("instructions_r0") == 4  # every point changes its seed instructions' key
    for point in ("p2", "p3", "p4"):
        assert not (out / "points" / point / "docs_selected").exists()
        assert set(json.loads((out / "points" / point / "point_done.json").read_text())["shared"]) >= set(PRESCREEN)
    # points 3 and 4 change only the similarity filter of points 1 and 2: their seed prompts are the same
    for point, twin in (("p3", "p1"), ("p4", "p2")):
        m, t = metrics(out, point), metrics(out, twin)
        assert m["instructions_r0.llm_sent"] == 0
        assert m["instructions_r0.llm_cached"] == m["instructions_r0.llm_prompts"] == t["instructions_r0.llm_prompts"]
    cache = pd.read_parquet(out / "llm_cache")
    paid = sum(metrics(out, p)["cost.paid.sent"] for p in ("p1", "p2", "p3", "p4"))
    # what point 2's killed attempt committed was paid then, not again by its resumed attempt
    killed_attempt = len(sweep["before"]) - metrics(out, "p1")["cost.paid.sent"]
    assert killed_attempt > 0
    assert paid + killed_attempt == len(cache) and cache["prompt_hash"].is_unique  # each prompt paid once


def test_mlflow_holds_one_parent_with_a_child_per_point_and_the_comparison(sweep, tmp_path):
    out = sweep["out"]
    uri = f"sqlite:///{out / 'mlflow.db'}"
    client = mlflow.MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("fanno-spark").experiment_id])
    parents = [r for r in runs if r.data.tags.get("fanno.sweep") == "parent"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"  # the resumed sweep reopened its parent
    parent = parents[0]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(r.data.tags["fanno.sweep_point"] for r in children) == ["p1", "p2", "p3", "p4"]
    assert all(r.info.status == "FINISHED" for r in children)
    assert all(set(r.data.params) == {"filter.max_similarity", "llm.temperature"} for r in children)
    assert parent.data.params["llm.model"] == "fake" and "llm.temperature" not in parent.data.params
    assert parent.data.metrics["sweep.points"] == 4
    arts = {a.path for a in client.list_artifacts(parent.info.run_id, "compare")}
    assert arts == {f"compare/{f}" for f in ("compare.md", "compare.csv", "metrics.png", "diversity.png",
                                             "drops.png", "points.json")}
    table = pd.read_csv(out / "compare" / "compare.csv")
    assert len(table) == 4 and list(table["llm.temperature"]) == [0.3, 0.9, 0.3, 0.9]
    assert list(table["prompts_sent"]) == [metrics(out, p)["cost.paid.sent"] for p in ("p1", "p2", "p3", "p4")]
    assert list(table["pairs"]) == [metrics(out, p)["final.pairs"] for p in ("p1", "p2", "p3", "p4")]
    proc = run_cli(["compare", "--parent", parent.info.run_id, "--tracking-uri", uri, "--out", str(tmp_path)],
                   timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "drops.png").stat().st_size > 0
    assert "sweep " + parent.info.run_id in (tmp_path / "compare.md").read_text()
