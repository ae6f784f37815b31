"""P6: decontamination throughput: generated pairs per second checked against a benchmark file of 10k
prompts (word 13-grams, hashed, one Spark join), and what it finds.

Real prose from the docstring pages: benchmark prompts are sentences-long cuts of some pages (8-60
words); pairs are (instruction, output) cuts of other pages, and 1 % of them get a benchmark prompt
pasted into the instruction with one word changed. Found = planted pairs marked; extra = other pairs
marked (a shared 13-gram of boilerplate text, reported as is).
"""

from __future__ import annotations

import json
import random
import shutil
import time
from pathlib import Path

from fanno_spark.config import DecontamConfig
from fanno_spark.fs import LocalFS
from fanno_spark.publish import decontam

from .corpus import pages

WORK = Path(__file__).parent / ".cache" / "p6"


def _inputs(n_prompts: int, n_pairs: int, seed: int = 7) -> tuple[Path, list[tuple], set[str]]:
    rng = random.Random(seed)
    texts = [p["text"].split() for p in pages(4000)]
    bench_src, pair_src = texts[: len(texts) // 4], texts[len(texts) // 4:]
    prompts = []
    for k in range(n_prompts):
        words = bench_src[k % len(bench_src)]
        n = rng.randint(8, 60)
        start = rng.randrange(max(1, len(words) - n))
        prompts.append(" ".join(words[start:start + n]))
    WORK.mkdir(parents=True, exist_ok=True)
    bench = WORK / "benchmark.jsonl"
    bench.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in prompts))
    pairs, planted = [], set()
    for k in range(n_pairs):
        words = pair_src[k % len(pair_src)]
        a = rng.randrange(max(1, len(words) - 40))
        instruction = " ".join(words[a:a + rng.randint(8, 40)])
        output = " ".join(words[a + 40:a + 40 + rng.randint(50, 250)])
        if k % 100 == 0:  # planted: a benchmark prompt (>= 13 words) with one word changed
            p = [w for w in prompts if len(w.split()) >= 30][k // 100 % 100].split()
            p[len(p) // 2] = "altered"
            instruction = "Please answer: " + " ".join(p)
            planted.add(f"i{k}")
        pairs.append((f"i{k}", instruction, None, output, None))
    return bench, pairs, planted


def run(spark, n_prompts: int = 10_000, n_pairs: int = 100_000) -> list[dict]:
    bench, pairs, planted = _inputs(n_prompts, n_pairs)
    df = spark.createDataFrame(pairs, "instruction_id string, instruction string, input string, output string, "
                                      "drop_reason string").repartition(8)
    src = WORK / "pairs"
    shutil.rmtree(src, ignore_errors=True)
    df.write.parquet(str(src))
    cfg = DecontamConfig(benchmarks=(str(bench),))
    out = WORK / "marked"
    rows = []
    for _ in range(2):  # the first run also warms the JVM's code paths; the best of two is reported
        shutil.rmtree(out, ignore_errors=True)
        start = time.perf_counter()
        grams, lengths, _ = decontam.benchmark_grams(decontam.load_benchmarks(spark, cfg, LocalFS()), cfg)
        marked = decontam.mark_contaminated(spark.read.parquet(str(src)), "instruction_id",
                                            cfg.instruction_fields, grams, lengths)
        marked.write.parquet(str(out))
        seconds = time.perf_counter() - start
        hit = {r["instruction_id"] for r in spark.read.parquet(str(out))
               .where("drop_reason = 'contaminated'").select("instruction_id").collect()}
        rows.append({"bench": "P6", "what": f"decontamination, {n_prompts} benchmark prompts, 13-grams "
                     f"(gram lengths {len(lengths)})", "docs": n_pairs, "seconds": round(seconds, 1),
                     "docs_per_s": round(n_pairs / seconds), "drops": {
                         "planted": len(planted), "found": len(hit & planted), "extra": len(hit - planted)}})
        print(rows[-1], flush=True)
    return [min(rows, key=lambda r: r["seconds"])]
