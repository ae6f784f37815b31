"""The job's CLI as a subprocess, as a user runs it (shared by the e2e tests; tests/support is on sys.path)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_cli(args, timeout: int = 1500, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fanno_spark", *args], cwd=ROOT, text=True, capture_output=True,
                          env=dict(os.environ, PYTHONUNBUFFERED="1", **(env or {})), timeout=timeout)
