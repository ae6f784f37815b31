"""Spark's Python worker daemon, with the model libraries imported once before it forks workers.

Spark forks every Python worker from one daemon per executor, a stage's task may land on any of them,
and idle workers are stopped after a minute without Python work, so each fresh worker that embeds or
generates imported its libraries again: 9.8 s on 2 AVX2 cores for vLLM, 3.5 s for torch + tokenizers
(MiniLM, prescreen/minilm.py). Imported here, every forked worker inherits them.
Selected with `spark.python.daemon.module=fanno_spark.worker_daemon` (set by `spark_env.build_spark`
where the executors run the driver's Python: see `spark.preload`); the modules come from the
FANNO_WORKER_PRELOAD environment variable (comma-separated).
Importing only (no tensor op, no thread) keeps the fork safe.
"""

from __future__ import annotations

import importlib
import os
import sys
import time


def preload(names: list[str]) -> None:
    # The daemon's stdout carries its port to the JVM: nothing an import prints may land there.
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        for name in names:
            start = time.perf_counter()
            try:
                importlib.import_module(name)
            except Exception as exc:  # a worker that needs it will raise the real error itself
                print(f"fanno-spark worker daemon: could not preload {name}: {exc!r}", file=sys.stderr)
                continue
            print(f"fanno-spark worker daemon: {name} imported in {time.perf_counter() - start:.1f}s",
                  file=sys.stderr)
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


if __name__ == "__main__":
    preload([n for n in os.environ.get("FANNO_WORKER_PRELOAD", "").split(",") if n.strip()])
    from pyspark.daemon import manager

    manager()
