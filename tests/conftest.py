import os

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

# `make test` runs on two pytest-xdist workers. Each file is one scope, so its module fixtures (one
# real-model job shared by several tests) run once; the files that run the real model share one scope,
# so two CPU vLLM engines (which spin their OpenMP threads) never compete for the same cores while the
# other worker runs the Spark and fake-engine tests beside them.
REAL_MODEL = {"tests/e2e/test_job.py", "tests/e2e/test_vllm_engine.py", "tests/e2e/test_server_engine.py",
              "tests/cluster/test_standalone.py"}


def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class RealModelTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            path = nodeid.split("::")[0]
            return "real-model" if path in REAL_MODEL else path

    return RealModelTogether(config, log)
