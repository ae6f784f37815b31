import os
import sys
from pathlib import Path

# The test doubles (the fake engine) are loaded by name in every process a test starts: the job's driver,
# Spark's Python workers (they inherit PYTHONPATH) and this one.
DOUBLES = str(Path(__file__).parent / "doubles")
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (DOUBLES, os.environ.get("PYTHONPATH")) if p)
sys.path.insert(0, DOUBLES)
sys.path.insert(0, str(Path(__file__).parent / "support"))  # the CLI runner, the storage servers (HDFS, S3)
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
# Two xdist workers share the cores, each running jobs whose vLLM / MiniLM (torch's libgomp) spin at every
# OpenMP barrier: two vLLM engines on 2 cores ran 9.2 tok/s each, 34 tok/s each with passive waiting
# (alone: 50 vs 44 tok/s). Inherited by every job, Spark worker and `vllm serve` the tests start.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

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
