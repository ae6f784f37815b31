"""P3: similarity graph (IVF, cosine >= 0.7) + GraphFrames label propagation, 10k vs 100k documents.

Embedding 100k documents with MiniLM on 2 CPU cores would take longer than the graph itself, so the
vectors are synthetic: 384-d unit vectors where 60% of documents sit in topic clusters of 2-20
members (pairwise cosine about 0.8, as paraphrases under MiniLM) and 40% are unrelated. The graph
code sees exactly what it sees in the job: a Parquet of (id, embedding array<float>).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from fanno_spark.config import GraphConfig
from fanno_spark.prescreen import graph

WORK = Path(__file__).parent / ".cache" / "p3"
DIM = 384


def make_vectors(n: int, seed: int = 0) -> Path:
    path = WORK / f"vecs-{n}.parquet"
    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    x = np.empty((n, DIM), dtype=np.float32)
    i = 0
    clustered = int(n * 0.6)
    while i < clustered:
        size = min(int(rng.integers(2, 21)), clustered - i)
        center = rng.normal(size=DIM)
        center /= np.linalg.norm(center)
        noise = rng.normal(scale=0.5 / np.sqrt(DIM), size=(size, DIM))
        x[i:i + size] = center + noise
        i += size
    x[i:] = rng.normal(size=(n - i, DIM))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    ids = pa.array([f"v{j:07d}" for j in rng.permutation(n)])
    emb = pa.ListArray.from_arrays(pa.array(np.arange(0, (n + 1) * DIM, DIM, dtype=np.int32)), pa.array(x.ravel()))
    WORK.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"id": ids, "embedding": emb}), path)
    return path


def exact_edge_count(n: int, threshold: float) -> int:
    """All-pairs count with numpy in blocks (the answer IVF approximates; only affordable at 10k)."""
    x = pq.read_table(make_vectors(n)).column("embedding").combine_chunks().flatten().to_numpy().reshape(n, DIM)
    total = 0
    for start in range(0, n, 2000):
        sims = x[start:start + 2000] @ x.T
        rows = np.arange(start, min(start + 2000, n))[:, None]
        total += int(((sims >= threshold) & (np.arange(n)[None, :] > rows)).sum())
    return total


def time_graph(spark, n: int, cfg: GraphConfig) -> dict:
    vecs = spark.read.parquet(str(make_vectors(n))).repartition(spark.sparkContext.defaultParallelism).cache()
    vecs.count()
    out = WORK / f"out-{n}"
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    graph.similarity_edges(vecs, cfg).write.parquet(str(out / "edges"))
    t_edges = time.perf_counter() - start
    edges = spark.read.parquet(str(out / "edges"))
    graph.label_propagation(vecs.select("id"), edges, cfg).write.parquet(str(out / "communities"))
    total = time.perf_counter() - start
    comms = spark.read.parquet(str(out / "communities"))
    n_comm = comms.select("community").distinct().count()
    vecs.unpersist()
    return {"docs": n, "edges": edges.count(), "communities": n_comm, "edges_s": round(t_edges, 1),
            "lpa_s": round(total - t_edges, 1), "seconds": round(total, 1)}


def run(spark, sizes=(10_000, 100_000)) -> list[dict]:
    cfg = GraphConfig()
    time_graph(spark, 2_000, cfg)  # warm-up: JVM, Python workers, GraphFrames classes
    rows = [time_graph(spark, n, cfg) for n in sizes]
    rows[0]["recall"] = round(rows[0]["edges"] / exact_edge_count(sizes[0], cfg.cosine_threshold), 4)
    out = [{"bench": "P3", "what": f"IVF graph (cell_size {cfg.cell_size}, nprobe {cfg.nprobe}) + LPA, "
                                   f"{r['docs']} docs", **r} for r in rows]
    out.append({"bench": "P3", "what": f"ratio {sizes[1]} / {sizes[0]} wall time (goal <= 12)",
                "ratio": round(rows[1]["seconds"] / rows[0]["seconds"], 2)})
    return out
