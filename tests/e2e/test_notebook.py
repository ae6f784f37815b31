"""The Databricks notebook, run as a plain script (no dbutils): widgets fall back to defaults, overrides come
from the environment (here the deterministic fake engine: the notebook's plumbing is under test)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def test_notebook_source_format_and_local_run(tmp_path):
    nb = ROOT / "notebooks" / "fanno_databricks.py"
    text = nb.read_text()
    assert text.startswith("# Databricks notebook source\n") and text.count("# COMMAND ----------") >= 3
    assert "dbutils.widgets.text(\"config\"" in text
    env = dict(os.environ, FANNO_OUTPUT=str(tmp_path / "nb"), PYTHONUNBUFFERED="1",
               FANNO_OVERRIDES="llm.engine=fake;llm.model=fake;input.max_docs=60;sample.max_docs=4;tags.prompts_per_doc=1;augment.rounds=0;spark.master=local[2]")
    proc = subprocess.run([sys.executable, str(nb)], cwd=tmp_path, env=env, text=True, capture_output=True,
                          timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    metrics = json.loads((tmp_path / "nb" / "metrics.json").read_text())
    assert metrics["docs.rows"] == 60 and metrics["final.pairs"] > 0
    assert ">>>" in proc.stdout  # the dataset cell printed samples
