"""P5: MiniLM embeddings of full-length pages (2,000+ characters): docs/s per precision the CPU can run,
encoded directly in one process, and through the job's docs_vec stage (pandas UDF, precision auto);
embed.max_tokens 256 (MiniLM's limit) vs 128: speed, and how many of the cosine >= 0.7 edges between
the pages the shorter vectors keep (recall) or add (precision).

Same pages, same cores, one run. Each side is warmed first (model load + a warm-up batch not timed).
"""

from __future__ import annotations

import gc
import time

from fanno_spark.config import EmbedConfig
from fanno_spark.llm.model_store import embedding_model_path
from fanno_spark.llm.precision import cuda_available, read_cpu_info, resolve_dtype
from fanno_spark.prescreen import embed

from .corpus import pages


def _direct(texts: list[str], precision: str, batch: int) -> float:
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(embedding_model_path(), device="cpu")
    if precision != "float32":
        model = model.to(getattr(torch, precision))
    model.encode(texts[:batch], batch_size=batch, normalize_embeddings=True, convert_to_tensor=True)  # warm
    start = time.perf_counter()
    model.encode(texts, batch_size=batch, normalize_embeddings=True, convert_to_tensor=True)
    seconds = time.perf_counter() - start
    del model
    gc.collect()
    return seconds


def _spark(spark, docs: list[dict], warm: list[dict], batch: int) -> float:
    cfg = EmbedConfig(batch_size=batch)
    path = embedding_model_path()
    embed.embed_documents(spark.createDataFrame(warm).select("id", "text"), cfg, path).write.format("noop") \
        .mode("overwrite").save()
    df = spark.createDataFrame(docs).select("id", "text").repartition(1).cache()
    df.count()
    start = time.perf_counter()
    embed.embed_documents(df, cfg, path).write.format("noop").mode("overwrite").save()
    return time.perf_counter() - start


def _edges(v, threshold: float = 0.7) -> set[tuple[int, int]]:
    import numpy as np

    a, b = np.nonzero(np.triu(v @ v.T >= threshold, k=1))
    return set(zip(a.tolist(), b.tolist(), strict=True))


def _max_tokens(texts: list[str], precision: str, batch: int) -> list[dict]:
    path = embedding_model_path()
    embed.encode(texts[:batch], path, batch, precision, 256)  # warm
    out, ref = [], None
    for tokens in (256, 128):
        start = time.perf_counter()
        vecs = embed.encode(texts, path, batch, precision, tokens)
        seconds = time.perf_counter() - start
        row = {"bench": "P5", "what": f"embed.max_tokens {tokens} ({precision}, the stage's encode)",
               "docs": len(texts), "seconds": round(seconds, 1), "docs_per_s": round(len(texts) / seconds, 1)}
        edges = _edges(vecs)
        if ref is None:
            ref = (edges, seconds)
            row["edges"] = len(edges)
        else:
            kept = len(edges & ref[0])
            row.update(edges=len(edges), recall=round(kept / max(1, len(ref[0])), 3),
                       ratio=round(ref[1] / seconds, 2))
            row["what"] += f"; recall/precision of the 256-token edges, speed-up vs 256 (precision " \
                           f"{kept / max(1, len(edges)):.3f})"
        print(f"P5 max_tokens {tokens}: {row}", flush=True)
        out.append(row)
    return out


def run(spark, n: int = 512, batch: int = 64) -> list[dict]:
    cpu = read_cpu_info()
    auto = resolve_dtype("auto", cpu, cuda_available())[0]
    docs = pages(n + batch)
    warm, docs = docs[n:], docs[:n]
    texts = [d["text"][:2000] for d in docs]  # what docs_vec reads (embed.max_chars); MiniLM cuts at 256 tokens
    mb = sum(len(t) for t in texts) / 1e6
    print(f"P5 CPU: {cpu.model}; bf16 flags: {', '.join(cpu.bf16_flags) or 'none'}; embed.precision auto -> {auto}; "
          f"{n} pages, {mb:.2f} MB", flush=True)
    rows, direct = [], {}
    for precision in ("float32", "bfloat16"):
        s = _direct(texts, precision, batch)
        direct[precision] = n / s
        print(f"P5 direct {precision}: {n} pages in {s:.1f}s ({direct[precision]:.1f} docs/s)", flush=True)
        rows.append({"bench": "P5", "what": f"MiniLM direct, one process, {precision}"
                     f"{' (auto)' if precision == auto else ''}, 2,000-char pages", "docs": n,
                     "seconds": round(s, 1), "docs_per_s": round(direct[precision], 1)})
    rows.append({"bench": "P5", "what": "ratio bfloat16 / float32 docs/s on this CPU",
                 "ratio": round(direct["bfloat16"] / direct["float32"], 2)})
    rows += _max_tokens(texts, auto, batch)
    s = _spark(spark, docs, warm, batch)
    through = n / s
    ref = direct.get(auto, direct["float32"])
    print(f"P5 docs_vec stage (auto={auto}): {n} pages in {s:.1f}s ({through:.1f} docs/s); ratio {through / ref:.3f}",
          flush=True)
    rows.append({"bench": "P5", "what": f"docs_vec stage (pandas UDF), embed.precision auto = {auto}; ratio vs "
                 "direct in the same precision", "docs": n, "seconds": round(s, 1), "docs_per_s": round(through, 1),
                 "ratio": round(through / ref, 3)})
    return rows
