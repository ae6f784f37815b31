"""The Python worker daemon that imports the model libraries once (fanno_spark.worker_daemon)."""

import os
import subprocess
import sys
import threading

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


def test_llm_worker_pool_blocks_in_threads_never_change_the_environment_spark_is_reading():
    """Two stages planned at once from two threads (a notebook, a test of a shared cache): Spark iterates
    sc.environment when it wraps each function, so a block must never change that dict under a reader, and
    the environment after both blocks is the one before them."""
    class Ctx:
        environment = {f"VAR{i}": str(i) for i in range(200)} | {"FANNO_LLM_WORKER_PRELOAD": "vllm"}

    sc, before, errors, stop = Ctx(), dict(Ctx.environment), [], threading.Event()

    def read():  # what py4j's MapConverter does with the dict Spark hands it
        while not stop.is_set():
            try:
                for key in sc.environment:
                    assert key
            except RuntimeError as exc:
                errors.append(str(exc))

    def plan(n):
        for _ in range(n):
            with llm_worker_pool(sc):
                inside = dict(sc.environment)
                if inside.get("FANNO_WORKER_POOL") != "llm" or inside["FANNO_WORKER_PRELOAD"] != "vllm":
                    errors.append(f"block saw {inside.get('FANNO_WORKER_POOL')}")

    reader = threading.Thread(target=read)
    reader.start()
    planners = [threading.Thread(target=plan, args=(2000,)) for _ in range(2)]
    for t in planners:
        t.start()
    for t in planners:
        t.join()
    stop.set()
    reader.join()
    assert errors == [] and sc.environment == before


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
