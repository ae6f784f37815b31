"""P3: similarity graph (IVF, cosine >= 0.7) + GraphFrames label propagation at 10k / 100k / 1M documents,
with the DataFrame LPA it replaced timed on the same edges in the same run.

Embedding a million documents with MiniLM on 2 CPU cores would take most of a day, so the vectors are
synthetic, with the structure a web corpus has under MiniLM:
- community sizes follow a power law (Pareto, shape 1.3, 2 to 400 members): a few large topics,
  many small ones;
- each member sits at its own distance from the topic centre (share rho ~ U(0.3, 0.95) of the centre),
  so within a topic cosines spread from ~0.3 to ~0.95 and only part of the pairs reach 0.7;
- 5% of clustered documents are near-duplicates of another member (cosine ~0.98);
- 25% are unrelated (random directions).
Recall is measured at every size against exact search: all edges (cosine >= threshold) of 500 sampled
documents, found by one matrix product against all n vectors, versus the IVF edges touching them.
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

from . import lpa_dataframe

WORK = Path(__file__).parent / ".cache" / "p3"
DIM = 384
QUERIES = 500


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def make_vectors(n: int, seed: int = 0) -> Path:
    path = WORK / f"vecs2-{n}.parquet"
    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    x = np.empty((n, DIM), dtype=np.float32)
    clustered, i = int(n * 0.75), 0
    while i < clustered:
        size = min(int(2 * (1 - rng.random()) ** (-1 / 1.3)), 400, clustered - i)
        centre = _unit(rng.normal(size=DIM))
        rho = rng.uniform(0.3, 0.95, size=(size, 1)).astype(np.float32)
        x[i:i + size] = np.sqrt(rho) * centre + np.sqrt(1 - rho) * _unit(rng.normal(size=(size, DIM)))
        dups = np.nonzero(rng.random(size) < 0.05)[0]
        for d in dups[dups > 0]:  # a near-copy of the member before it
            x[i + d] = _unit(x[i + d - 1] + 0.2 * _unit(rng.normal(size=DIM)))
        i += size
    x[i:] = _unit(rng.normal(size=(n - i, DIM)))
    x = _unit(x)
    ids = pa.array([f"v{j:07d}" for j in rng.permutation(n)])
    WORK.mkdir(parents=True, exist_ok=True)
    writer = None
    for start in range(0, n, 100_000):  # bounded memory for the Arrow copy
        end = min(n, start + 100_000)
        offsets = pa.array(np.arange(0, (end - start + 1) * DIM, DIM, dtype=np.int32))
        table = pa.table({"id": ids[start:end],
                          "embedding": pa.ListArray.from_arrays(offsets, pa.array(x[start:end].ravel()))})
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    writer.close()
    return path


def exact_edges_of_sample(n: int, threshold: float, seed: int = 1) -> tuple[list[str], set[tuple[str, str]]]:
    """QUERIES random ids and every edge (cosine >= threshold) touching them, by exact search over all n."""
    t = pq.read_table(make_vectors(n))
    ids = np.asarray(t.column("id").to_pylist(), dtype=object)
    x = t.column("embedding").combine_chunks().flatten().to_numpy().reshape(n, DIM)
    q = np.random.default_rng(seed).choice(n, size=min(QUERIES, n), replace=False)
    edges = set()
    for start in range(0, len(q), 100):
        rows = q[start:start + 100]
        qi, xi = np.nonzero((x[rows] @ x.T) >= threshold)
        for a, b in zip(ids[rows[qi]], ids[xi], strict=True):
            if a != b:
                edges.add((min(a, b), max(a, b)))
    return list(ids[q]), edges


def time_graph(spark, n: int, cfg: GraphConfig, recall: bool = True) -> dict:
    from pyspark.sql import functions as F

    vecs = spark.read.parquet(str(make_vectors(n))).repartition(spark.sparkContext.defaultParallelism * 4).cache()
    vecs.count()
    out = WORK / f"out-{n}"
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    graph.similarity_edges(vecs, cfg).write.parquet(str(out / "edges"))
    t_edges = time.perf_counter() - start
    edges = spark.read.parquet(str(out / "edges"))
    graph.label_propagation(vecs.select("id"), edges, cfg).write.parquet(str(out / "communities"))
    total = time.perf_counter() - start
    # the DataFrame LPA this replaced, same edges, same run
    old_start = time.perf_counter()
    lpa_dataframe.label_propagation(vecs.select("id"), edges, cfg.lpa_max_iter).write.parquet(str(out / "old"))
    t_old = time.perf_counter() - old_start
    comms = spark.read.parquet(str(out / "communities"))
    old = spark.read.parquet(str(out / "old"))
    differ = comms.join(old.withColumnRenamed("community", "old"), "id", "full").where(
        ~F.col("community").eqNullSafe(F.col("old"))).count()
    row = {"docs": n, "edges": edges.count(), "communities": comms.select("community").distinct().count(),
           "edges_s": round(t_edges, 1), "lpa_s": round(total - t_edges, 1), "old_lpa_s": round(t_old, 1),
           "lpa_ratio": round((total - t_edges) / t_old, 2), "lpa_differ": differ, "seconds": round(total, 1)}
    vecs.unpersist()
    if recall:
        queries, truth = exact_edges_of_sample(n, cfg.cosine_threshold)
        qs = set(queries)
        got = {(r["src"], r["dst"]) for r in edges.where(F.col("src").isin(queries) | F.col("dst").isin(queries))
               .collect() if r["src"] in qs or r["dst"] in qs}
        row["recall"] = round(len(got & truth) / max(1, len(truth)), 4)
        row["sample_edges"] = len(truth)
    return row


def run(spark, sizes=(10_000, 100_000, 1_000_000)) -> list[dict]:
    cfg = GraphConfig()
    time_graph(spark, 2_000, cfg, recall=False)  # warm-up: JVM, Python workers, GraphFrames classes
    rows = [time_graph(spark, n, cfg) for n in sizes]
    out = [{"bench": "P3", "what": f"IVF graph (cell_size {cfg.cell_size}, nprobe {cfg.nprobe}, coarse_nprobe "
                                   f"{cfg.coarse_nprobe}) + GraphFrames LPA (old_lpa_s: the DataFrame LPA it "
                                   f"replaced, same edges; lpa_differ: ids whose community differs), {r['docs']} docs; "
                                   f"recall on {QUERIES} sampled docs' "
                                   f"{r.pop('sample_edges')} exact edges", **r} for r in rows]
    for a, b in zip(rows, rows[1:], strict=False):
        out.append({"bench": "P3", "what": f"ratio {b['docs']} / {a['docs']} wall time (goal <= 12)",
                    "ratio": round(b["seconds"] / a["seconds"], 2)})
    return out
