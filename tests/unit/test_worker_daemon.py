"""The Python worker daemon that imports the model libraries once (fanno_spark.worker_daemon)."""

import os
import subprocess
import sys

from fanno_spark.config import load_config
from fanno_spark.prescreen.minilm import LIBRARIES
from fanno_spark.spark_env import preload_modules


def test_preload_is_on_for_local_masters_only_unless_asked():
    cfg = load_config("conf/local.yaml")
    assert preload_modules(cfg, "local[2]") == [*LIBRARIES, "vllm"]
    # a cluster's executors may only have the package through --py-files: Spark's own daemon there
    assert preload_modules(cfg, "spark://h:7077") == [] and preload_modules(cfg, None) == []
    on = load_config("conf/local.yaml", ["spark.preload=always", "llm.engine=fake", "llm.model=fake"])
    assert preload_modules(on, "yarn") == LIBRARIES  # no vLLM import for another engine
    off = load_config("conf/local.yaml", ["spark.preload=never"])
    assert preload_modules(off, "local[*]") == []


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
