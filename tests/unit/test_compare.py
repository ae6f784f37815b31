"""compare: runs of one MLflow experiment (real sqlite store) -> differing params, key metrics, plots."""

import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from PIL import Image

from fanno_spark.compare import CompareError, compare

ROOT = Path(__file__).resolve().parents[2]


def _log(uri, name, temperature, pairs, cosines, status="FINISHED"):
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("gen-configs")
    with mlflow.start_run(run_name=name) as run:
        mlflow.log_params({"llm.temperature": temperature, "llm.model": "m", "augment.rounds": 1})
        mlflow.log_metrics({"final.pairs": pairs, "final.llm_calls_per_pair": 2.5,
                            "instructions_r0.llm_completion_tokens": 100, "pairs_r0.llm_completion_tokens": 50,
                            "docs.seconds": 1.5, "final.seconds": 0.5,
                            **{f"report.r{i}.mean_cosine": c for i, c in enumerate(cosines)}})
        if status != "FINISHED":
            mlflow.end_run(status)
    return run.info.run_id


@pytest.fixture()
def store(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    ids = [_log(uri, "greedy", 0.0, 40, [0.5, 0.4]), _log(uri, "hot", 0.9, 55, [0.3, 0.2]),
           _log(uri, "crashed", 0.5, 0, [], status="FAILED")]
    mlflow.end_run()
    return uri, ids


def test_table_has_only_differing_params_and_key_metrics(store, tmp_path):
    uri, ids = store
    df, differing, plots = compare(uri, "gen-configs", tmp_path / "cmp")
    assert differing == ["llm.temperature"]  # model and rounds are equal: not shown; the failed run is left out
    assert list(df["run"]) == [f"greedy ({ids[0][:8]})", f"hot ({ids[1][:8]})"]
    assert list(df["llm.temperature"]) == ["0.0", "0.9"] and list(df["pairs"]) == [40, 55]
    assert list(df["completion_tokens"]) == [150, 150] and list(df["stage_seconds"]) == [2.0, 2.0]
    assert list(df["r1_mean_cosine"]) == [0.4, 0.2]
    assert pd.read_csv(tmp_path / "cmp" / "compare.csv").shape[0] == 2
    md = (tmp_path / "cmp" / "compare.md").read_text()
    assert "| run | llm.temperature | pairs |" in md and "Params that differ: llm.temperature" in md
    for p in plots:
        with Image.open(p) as im:
            assert im.format == "PNG"


def test_cli_errors_in_one_line_and_prints_the_table(store, tmp_path):
    uri, _ = store
    bad = subprocess.run([sys.executable, "-m", "fanno_spark", "compare", "--experiment", "nope",
                          "--tracking-uri", uri], cwd=ROOT, text=True, capture_output=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.strip() == f"compare: no experiment named 'nope' at {uri}"
    ok = subprocess.run([sys.executable, "-m", "fanno_spark", "compare", "--experiment", "gen-configs",
                         "--tracking-uri", uri, "--out", str(tmp_path / "o")], cwd=ROOT, text=True,
                        capture_output=True, timeout=120)
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert "| hot (" in ok.stdout and (tmp_path / "o" / "metrics.png").exists()


def test_only_failed_runs_is_an_error(tmp_path):
    uri = f"sqlite:///{tmp_path / 'f.db'}"
    _log(uri, "crashed", 0.5, 0, [], status="FAILED")
    mlflow.end_run()
    with pytest.raises(CompareError, match="no finished runs"):
        compare(uri, "gen-configs", tmp_path / "cmp")
