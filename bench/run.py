"""`make bench`: run the benchmarks in one process and write bench/results.md (+ results.json).

    python -m bench.run [--only P1,P3] [--docs 25000]
    python -m bench.run --only P1L --pages 100000   # P1 like for like with datatrove (not in the default set)
    python -m bench.run --only P7 --scale 1000000   # the pre-screen at 1M documents, driver at 2g (neither)
    python -m bench.run --only P8                   # session start-up with / without Spark NLP (neither)
    python -m bench.run --only P2,P2L --prompts 1000 # the LLM stage against vLLM alone, short and long (neither)
    python -m bench.run --only P2P                  # vLLM's prefix cache on vs off on sorted seed prompts (neither)
    python -m bench.run --only P9                   # the job on local disk vs S3 (MinIO), file vs magic committer
    python -m bench.run --only P10                  # a 3-point sweep vs the same 3 configs as separate runs
    python -m bench.run --only P11                  # passages of the full-length pages: counts, length histogram
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from fanno_spark.spark_env import ENV_DEFAULTS, apply_env_defaults, locked_jars_csv

HERE = Path(__file__).parent


def spark_session():
    apply_env_defaults()
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master("local[2]").appName("fanno-bench")
             .config("spark.sql.shuffle.partitions", "8").config("spark.driver.memory", "6g")
             .config("spark.jars", locked_jars_csv()).config("spark.python.worker.reuse", "true")
             .config("spark.sql.execution.arrow.pyspark.enabled", "true")
             .config("spark.ui.showConsoleProgress", "false")
             .config("spark.jsl.settings.onnx.intraOpNumThreads", "1")  # what build_spark sets (task cores)
             # what build_spark sets for LLM stages: all cores for the engine, offline/in-process vLLM env
             .config("spark.executorEnv.OMP_NUM_THREADS", str(os.cpu_count()))
             .config(map={f"spark.executorEnv.{k}": os.environ[k] for k in ENV_DEFAULTS}).getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    spark.sparkContext.setCheckpointDir(str(HERE / ".cache" / "checkpoints"))
    from fanno_spark.spark_env import ensure_graphframes_importable

    ensure_graphframes_importable(spark)
    return spark


def _machine(meta: dict) -> str:
    return (f"{meta['cpus']} CPUs, {meta['machine']}, {meta.get('cpu_model', '?')} "
            f"(bf16 flags: {meta.get('bf16_flags') or 'none'}; avx512f: {meta.get('avx512f', '?')}); "
            f"Python {meta['python']}")


def to_markdown(rows: list[dict], machines: dict[str, dict]) -> str:
    """machines: bench -> the meta of the run that produced its rows (rows of one bench come from one run)."""
    cols = ["bench", "what", "docs", "seconds", "docs_per_s", "kept", "edges", "communities", "edges_s", "lpa_s",
            "old_lpa_s", "lpa_ratio", "lpa_differ", "recall", "separate", "sweep", "ratio", "tok_per_s", "calls_per_pair",
            "drops"]
    used = [c for c in cols if any(c in r for r in rows)]
    by_machine: dict[str, list[str]] = {}
    for bench, meta in sorted(machines.items()):
        by_machine.setdefault(_machine(meta), []).append(f"{bench} ({meta['date']})")
    lines = ["# Benchmark results", "", "Each bench is one run on one machine; its ratios come from that run.", ""]
    lines += [f"- {', '.join(benches)}: {machine}" for machine, benches in by_machine.items()]
    lines += ["", "| " + " | ".join(used) + " |", "|" + "---|" * len(used)]
    for r in rows:
        cells = []
        for c in used:
            v = r.get(c, "")
            cells.append(", ".join(f"{k}={n}" for k, n in v.items()) if isinstance(v, dict) else str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="P1,P2,P3,P4,P5,P6")
    ap.add_argument("--docs", type=int, default=25_000)
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--pages", type=int, default=100_000, help="P1L: full-length pages for the like-for-like run")
    ap.add_argument("--scale", type=int, default=1_000_000, help="P7: documents through the pre-screen")
    ap.add_argument("--prompts", type=int, default=1000, help="P2L: seed prompts at natural lengths")
    args = ap.parse_args()
    only = set(args.only.split(","))
    spark = spark_session()
    rows: list[dict] = []
    if "P1" in only:
        from . import corpus, p1_prescreen

        rows += p1_prescreen.run(spark, corpus.build(args.docs), args.docs)
        print(to_markdown(rows, meta()), flush=True)
    if "P1L" in only:
        from . import p1_parity

        rows += p1_parity.run(spark, args.pages)
    if "P3" in only:
        from . import p3_graph

        rows += p3_graph.run(spark, tuple(int(s) for s in args.sizes.split(",")))
    if "P2" in only:
        from . import p2_generation

        rows += p2_generation.run(spark)
    if "P2L" in only:  # not in the default set: three runs of every prompt at 512 new tokens
        from . import p2_generation

        rows += p2_generation.run_long(spark, args.prompts)
    if "P2P" in only:  # not in the default set: the prefix cache on vs off
        from . import p2_generation

        rows += p2_generation.run_prefix(spark)
    if "P5" in only:
        from . import p5_embed

        rows += p5_embed.run(spark)
    if "P6" in only:
        from . import p6_decontam

        rows += p6_decontam.run(spark)
    if "P7" in only:
        from . import p7_scale

        rows += p7_scale.run(args.scale)
    if "P8" in only:  # not in the default set: fresh JVMs, alternating
        from . import p8_startup

        rows += p8_startup.run()
    if "P9" in only:  # not in the default set: MinIO and five jobs
        from . import p9_storage

        rows += p9_storage.run()
    if "P11" in only:  # not in the default set
        from . import p11_passages

        rows += p11_passages.run(spark)
    if "P10" in only:  # not in the default set: four jobs
        from . import p10_sweep

        rows += p10_sweep.run()
    if "P4" in only:
        from . import p4_calls

        rows += p4_calls.run()
    spark.stop()
    m = meta()
    # Keep the latest rows of benchmarks not run this time, with the machine they ran on.
    old = HERE / "results.json"
    ran = {r["bench"] for r in rows}
    machines = {b: m for b in ran}
    if old.exists():
        saved = json.loads(old.read_text())
        kept = [r for r in saved["rows"] if r["bench"] not in ran]
        machines |= {b: saved.get("machines", {}).get(b, saved.get("meta")) for b in {r["bench"] for r in kept}}
        rows = sorted(kept + rows, key=lambda r: r["bench"])
    old.write_text(json.dumps({"machines": machines, "rows": rows}, indent=2))
    (HERE / "results.md").write_text(to_markdown(rows, machines))
    print(to_markdown(rows, machines))


def meta() -> dict:
    from fanno_spark.llm.precision import read_cpu_info

    cpu = read_cpu_info()
    return {"date": time.strftime("%Y-%m-%d %H:%M"), "cpus": os.cpu_count(), "machine": platform.machine(),
            "python": platform.python_version(), "cpu_model": cpu.model, "bf16_flags": ", ".join(cpu.bf16_flags),
            "avx512f": "avx512f" in cpu.flags}


if __name__ == "__main__":
    main()
