"""The Python worker daemon that imports the model libraries once (fanno_spark.worker_daemon)."""

import os
import subprocess
import sys

from fanno_spark.config import load_config
from fanno_spark.prescreen.minilm import LIBRARIES
from fanno_spark.resources import llm_worker_pool
from fanno_spark.spark_env import preload_conf, preload_modules


def test_preload_is_on_for_local_masters_only_unless_asked():
    cfg = load_config("conf/local.yaml")
    assert preload_modules(cfg, "local[2]") == {"default": LIBRARIES, "llm": ["vllm"]}
    # a cluster's executors may only have the package through --py-files: Spark's own daemon there
    assert preload_modules(cfg, "spark://h:7077") == {} and preload_modules(cfg, None) == {}
    on = load_config("conf/local.yaml", ["spark.preload=always", "llm.engine=fanno_doubles:FakeEngine", "llm.model=fake"])
    assert preload_modules(on, "yarn") == {"default": LIBRARIES, "llm": []}  # no vLLM import for another engine
    off = load_config("conf/local.yaml", ["spark.preload=never"])
    assert preload_modules(off, "local[*]") == {}
    conf = preload_conf(preload_modules(cfg, "local[2]"))
    assert conf["spark.executorEnv.FANNO_WORKER_PRELOAD"] == ",".join(LIBRARIES)
    assert conf["spark.executorEnv.FANNO_LLM_WORKER_PRELOAD"] == "vllm"


def test_llm_worker_pool_gives_functions_their_own_worker_environment():
    """Spark keys its Python worker pools by the environment captured when a function is created."""
    class Ctx:
        environment = {"FANNO_WORKER_PRELOAD": "torch", "FANNO_LLM_WORKER_PRELOAD": "vllm", "PYTHONHASHSEED": "0"}

    sc = Ctx()
    with llm_worker_pool(sc):
        inside = dict(sc.environment)
    assert inside == {"FANNO_WORKER_PRELOAD": "vllm", "FANNO_LLM_WORKER_PRELOAD": "vllm", "PYTHONHASHSEED": "0",
                      "FANNO_WORKER_POOL": "llm"}
    assert sc.environment == {"FANNO_WORKER_PRELOAD": "torch", "FANNO_LLM_WORKER_PRELOAD": "vllm",
                              "PYTHONHASHSEED": "0"}  # restored for every other function
    try:
        with llm_worker_pool(sc):
            raise RuntimeError("plan failed")
    except RuntimeError:
        pass
    assert "FANNO_WORKER_POOL" not in sc.environment


def test_preload_keeps_stdout_clean_and_survives_a_missing_module():
    # stdout carries the daemon's port to the JVM: what imports print must go to stderr
    code = ("import builtins, sys; sys.modules.pop('noisy', None);"
            "open('noisy.py', 'w').write('print(\"chatter\")\\nimport os; os.write(1, b\"raw\\\\n\")');"
            "sys.path.insert(0, '.');"
            "from fanno_spark.worker_daemon import preload; preload(['noisy', 'no_such_module_x'])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=os.getcwd() + "/tests",
                          timeout=60)
    os.remove("tests/noisy.py")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert "chatter" in proc.stderr and "raw" in proc.stderr
    assert "noisy imported" in proc.stderr and "could not preload no_such_module_x" in proc.stderr
