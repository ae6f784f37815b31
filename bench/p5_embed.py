"""P5: MiniLM embeddings of full-length pages (2,000+ characters): docs/s per precision the CPU can run,
encoded directly in one process, and through the job's docs_vec stage with each embed.engine (torch: pandas
UDF, precision auto; sparknlp: the ONNX export in Spark NLP's annotator), their cosine to sentence-transformers;
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


def _direct(texts: list[str], precision: str, batch: int):
    """(seconds, vectors) of sentence-transformers itself."""
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(embedding_model_path(), device="cpu")
    if precision != "float32":
        model = model.to(getattr(torch, precision))
    model.encode(texts[:batch], batch_size=batch, normalize_embeddings=True, convert_to_tensor=True)  # warm
    start = time.perf_counter()
    vecs = model.encode(texts, batch_size=batch, normalize_embeddings=True, convert_to_numpy=True)
    seconds = time.perf_counter() - start
    del model
    gc.collect()
    return seconds, vecs.astype("float32")


def _stage(spark, docs: list[dict], warm: list[dict], batch: int, engine: str, precision: str = "auto"):
    """(seconds, vectors by id) of the docs_vec stage's embed_documents with this engine and precision."""
    cfg = EmbedConfig(batch_size=batch, engine=engine, precision=precision)
    path = embedding_model_path()
    embed.embed_documents(spark.createDataFrame(warm).select("id", "text"), cfg, path).write.format("noop") \
        .mode("overwrite").save()
    df = spark.createDataFrame(docs).select("id", "text").repartition(2).cache()
    df.count()
    start = time.perf_counter()
    out = embed.embed_documents(df, cfg, path).select("id", "embedding").cache()
    out.write.format("noop").mode("overwrite").save()
    seconds = time.perf_counter() - start
    vecs = {r["id"]: r["embedding"] for r in out.collect()}
    out.unpersist()
    df.unpersist()
    return seconds, vecs


def _onnx_export_seconds() -> float:
    """What `make install` adds for embed.engine sparknlp: the ONNX export, into a fresh folder."""
    import shutil
    import tempfile
    from pathlib import Path

    from fanno_spark.prescreen.minilm_onnx import export

    tmp = Path(tempfile.mkdtemp())
    start = time.perf_counter()
    export(embedding_model_path(), tmp / "minilm-onnx")
    seconds = time.perf_counter() - start
    shutil.rmtree(tmp)
    return seconds


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
    rows, direct, ref_vecs = [], {}, None
    for precision in ("float32", "bfloat16"):
        s, vecs = _direct(texts, precision, batch)
        ref_vecs = vecs if precision == "float32" else ref_vecs
        direct[precision] = n / s
        print(f"P5 direct {precision}: {n} pages in {s:.1f}s ({direct[precision]:.1f} docs/s)", flush=True)
        rows.append({"bench": "P5", "what": f"MiniLM direct (sentence-transformers), one process, {precision}"
                     f"{' (auto)' if precision == auto else ''}, 2,000-char pages", "docs": n,
                     "seconds": round(s, 1), "docs_per_s": round(direct[precision], 1)})
    rows.append({"bench": "P5", "what": "ratio bfloat16 / float32 docs/s on this CPU",
                 "ratio": round(direct["bfloat16"] / direct["float32"], 2)})
    rows += _max_tokens(texts, auto, batch)
    import numpy as np

    stage = {}
    # each engine twice, alternating: a warm-up advantage or a noisy neighbour shows as a gap between the two
    for engine, precision in (("torch", "auto"), ("sparknlp", "auto"), ("torch", "float32"), ("sparknlp", "auto"),
                              ("torch", "auto"), ("torch", "float32")):
        s, vecs = _stage(spark, docs, warm, batch, engine, precision)
        resolved = "float32 (ONNX)" if engine == "sparknlp" else (auto if precision == "auto" else precision)
        label = f"{engine} {resolved}" + (" (again)" if f"{engine} {resolved}" in stage else "")
        stage[label] = n / s
        got = np.array([vecs[d["id"]] for d in docs], dtype=np.float32)
        cos = (got * ref_vecs).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(ref_vecs, axis=1)
        print(f"P5 docs_vec stage {label}: {n} pages in {s:.1f}s ({n / s:.1f} docs/s); cosine vs "
              f"sentence-transformers float32 min {cos.min():.5f} mean {cos.mean():.5f}", flush=True)
        rows.append({"bench": "P5", "what": f"docs_vec stage, embed.engine {engine}, precision {precision} = "
                     f"{resolved}; cosine to sentence-transformers float32: min {cos.min():.5f}, mean "
                     f"{cos.mean():.5f}", "docs": n, "seconds": round(s, 1), "docs_per_s": round(n / s, 1)})
    def best(label):  # the better of an engine's two runs
        return max(stage[label], stage.get(f"{label} (again)", 0))

    onnx = best("sparknlp float32 (ONNX)")
    rows.append({"bench": "P5", "what": f"ratio docs/s embed.engine sparknlp / torch ({auto}, the default), best of "
                 "two runs each, same stage, pages, cores", "ratio": round(onnx / best(f"torch {auto}"), 2)})
    if auto != "float32":
        rows.append({"bench": "P5", "what": "ratio docs/s embed.engine sparknlp / torch float32 (both float32), best "
                     "of two runs each", "ratio": round(onnx / best("torch float32"), 2)})
    export_s = _onnx_export_seconds()
    print(f"P5 ONNX export (make install, embed.engine sparknlp): {export_s:.1f}s", flush=True)
    rows.append({"bench": "P5", "what": "ONNX export of the bundled MiniLM (added to make install)",
                 "seconds": round(export_s, 1)})
    return rows
