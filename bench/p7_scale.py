"""P7: the pre-screen end to end at web scale, through the job's own CLI with `spark.driver.memory` 2g.

The corpus is synthetic text made of real sentences: the sentences of P1L's full-length pages (docstring
prose), drawn at random into documents of 3-8 sentences, with 4 % exact copies of earlier documents and
3 % junk (symbol runs, one-line stubs), so every rule and the dedup have work. Built in bench/.cache, never
committed. The job runs `--until docs_kept` (read, heuristics + language, MinHash dedup, split); its own
`<stage>.seconds` give the per-stage times. The embedding stage is left out (MiniLM on 2 CPU cores:
~12 docs/s, bench P5), and the graph + label propagation at 1M are P3's, on vectors with community structure.
Peak memory: the driver's Python process and its JVM (polled RSS every 0.5 s); the JVM's heap is capped at 2g.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psutil

from . import p1_parity

CACHE = Path(__file__).parent / ".cache" / "p7"
ROOT = Path(__file__).resolve().parents[1]


def build_corpus(n: int, shards: int = 8, seed: int = 7) -> tuple[Path, float]:
    out = CACHE / f"corpus-{n}"
    if (out / "_DONE").exists():
        return out, float((out / "_DONE").read_text())
    out.mkdir(parents=True, exist_ok=True)
    pages_dir, _, _ = p1_parity.build_corpus(20_000)
    sentences = [s.strip() for _, text in p1_parity._texts(pages_dir)
                 for s in re.split(r"(?<=[.!?])\s+", text) if len(s) > 20]
    sentences = np.array(sentences, dtype=object)
    rng = np.random.default_rng(seed)
    size = 0
    files = [open(out / f"part-{i:02d}.jsonl", "w") for i in range(shards)]  # noqa: SIM115
    texts: list[str] = []
    for i in range(n):
        r = rng.random()
        if r < 0.04 and texts:
            text = texts[int(rng.integers(len(texts)))]  # an exact copy of an earlier document
        elif r < 0.07:
            text = "#" * int(rng.integers(5, 40)) + " {} " * int(rng.integers(1, 20)) if r < 0.055 else "See above."
        else:
            text = " ".join(sentences[rng.integers(len(sentences), size=int(rng.integers(3, 9)))])
        if len(texts) < 50_000:
            texts.append(text)
        line = json.dumps({"id": f"s{i:07d}", "text": text}) + "\n"
        size += len(text.encode())
        files[i % shards].write(line)
    for f in files:
        f.close()
    mb = size / 1e6
    (out / "_DONE").write_text(f"{mb:.1f}")
    return out, mb


def run_job(corpus: Path, n: int) -> dict:
    out = CACHE / f"run-{n}"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "fanno_spark", "--config", "conf/local.yaml", "--output", str(out),
           "--set", f"input.path={corpus}", "--set", "input.format=jsonl", "--set", "spark.master=local[2]",
           "--set", "spark.shuffle_partitions=16", "--set", 'spark.conf={"spark.driver.memory": "2g"}',
           "--set", "report.enabled=false", "--until", "docs_kept"]
    start = time.time()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    peak = {"python": 0, "jvm": 0}
    driver = psutil.Process(proc.pid)
    log: list[str] = []
    reader = threading.Thread(target=lambda: log.extend(proc.stdout), daemon=True)
    reader.start()
    while proc.poll() is None:
        try:
            peak["python"] = max(peak["python"], driver.memory_info().rss)
            for child in driver.children(recursive=True):
                if "java" in child.name():
                    peak["jvm"] = max(peak["jvm"], child.memory_info().rss)
        except psutil.Error:
            pass
        time.sleep(0.5)
    reader.join(timeout=10)
    wall = time.time() - start
    if proc.returncode != 0:
        raise RuntimeError("P7 job failed:\n" + "".join(log[-40:]))
    metrics = json.loads((out / "metrics.json").read_text())
    return {"wall": wall, "peak_mb": {k: round(v / 2**20) for k, v in peak.items()}, "metrics": metrics}


def run(n: int = 1_000_000) -> list[dict]:
    corpus, mb = build_corpus(n)
    print(f"P7 corpus: {n} documents, {mb:.1f} MB", flush=True)
    got = run_job(corpus, n)
    m = got["metrics"]
    stages = ("docs", "docs_scored", "docs_dedup", "docs_kept")
    times = {s: m.get(f"{s}.seconds") for s in stages}
    print(f"P7: {got['wall']:.0f}s, stages {times}, peak {got['peak_mb']}", flush=True)
    return [
        {"bench": "P7", "what": "pre-screen to docs_kept through the CLI, local[2], spark.driver.memory 2g: "
                                "per-stage seconds; peak RSS MB of the driver's Python and JVM",
         "docs": n, "seconds": round(got["wall"], 1), "docs_per_s": round(n / got["wall"]),
         "kept": int(m.get("docs_kept.rows", 0)),
         "drops": {**{f"{s}_s": times[s] for s in stages}, "MB": round(mb, 1),
                   "MB_per_s": round(mb / got["wall"], 2), "python_peak_MB": got["peak_mb"]["python"],
                   "jvm_peak_MB": got["peak_mb"]["jvm"]}},
        {"bench": "P7", "what": "pre-screen drops by reason",
         "drops": {k.split(".")[-1]: int(v) for k, v in m.items() if k.startswith("prescreen.dropped.")}},
    ]
