"""Secrets never printed or recorded: URL credentials and key-shaped strings are masked everywhere."""

import logging
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

from fanno_spark.redact import RedactingFilter, redact
from fanno_spark.tracking import Tracker

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-proj-Abc123Def456Ghi789"


@pytest.mark.parametrize("text, secret", [
    (f"key {KEY} here", KEY),
    ("http://alice:s3cr3t@mlflow.internal:5000", "s3cr3t"),
    ("s3a://AKIAABCDEFGHIJKLMNOP:wJalrXUtnFEMI@bucket/corpus", "wJalrXUtnFEMI"),
    ("token hf_abcdefghijklmnopqrstu", "hf_abcdefghijklmnopqrstu"),
    ("Bearer dapi0123456789abcdef0123456789abcdef", "dapi0123456789abcdef0123456789abcdef"),
])
def test_redact_masks_the_secret(text, secret):
    assert secret not in redact(text) and "***" in redact(text)


def test_redact_keeps_ordinary_text():
    for text in ("http://127.0.0.1:5000", "llm.max_tokens=384", "sk-learn is a library", "runs/local/mlflow.db"):
        assert redact(text) == text


def test_log_filter_redacts_formatted_arguments(caplog):
    logger = logging.getLogger("fanno_spark.test_redact")
    handler = logging.StreamHandler()
    handler.addFilter(RedactingFilter())
    logger.addHandler(handler)
    try:
        record = logger.makeRecord(logger.name, logging.INFO, __file__, 1, "calling %s with %s", ("x", KEY), None)
        handler.filter(record)
        assert KEY not in record.getMessage() and "calling x with ***" == record.getMessage()
    finally:
        logger.removeHandler(handler)


def test_mlflow_params_never_hold_a_secret(tmp_path):
    t = Tracker(f"sqlite:///{tmp_path / 'm.db'}", "redact")
    t.log_params({"llm.base_url": "http://bob:hunter2pass@vllm:8000/v1", "tracking.uri": f"x {KEY}",
                  "llm.api_key_env": "OPENAI_API_KEY", "llm.max_tokens": 384, "extra.api_key": "plain"})
    t.end()
    params = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'm.db'}").get_run(t.run_id).data.params
    assert "hunter2pass" not in str(params) and KEY not in str(params) and "plain" not in str(params)
    assert params["llm.api_key_env"] == "OPENAI_API_KEY" and params["llm.max_tokens"] == "384"


def test_config_error_does_not_echo_a_pasted_key():
    proc = subprocess.run([sys.executable, "-m", "fanno_spark", "--set", f"llm.max_retries={KEY}"], cwd=ROOT,
                          text=True, capture_output=True, timeout=60)
    assert proc.returncode == 2 and "llm.max_retries: expected an integer" in proc.stderr
    assert KEY not in proc.stderr + proc.stdout
