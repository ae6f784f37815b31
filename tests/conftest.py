import os

import pytest

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

# `make test` runs on two pytest-xdist workers with --dist loadgroup. Each file is one group, so its
# module fixtures (one real-model job shared by several tests) run once; the files that run the real
# model share a group, so two vLLM engines never compete for the same cores (CPU vLLM spins its OpenMP
# threads) while the other worker runs the Spark and fake-engine tests beside them.
REAL_MODEL = {"tests/e2e/test_job.py", "tests/e2e/test_vllm_engine.py", "tests/e2e/test_server_engine.py",
              "tests/cluster/test_standalone.py"}


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which turns the marks into groups
def pytest_collection_modifyitems(config, items):
    for item in items:
        path = item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group("real-model" if path in REAL_MODEL else path))
