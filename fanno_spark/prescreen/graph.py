"""Similarity graph without all pairs, GraphFrames label propagation, diverse sampling.

Two ways to find the edges (cosine >= threshold between unit embeddings), chosen by graph.method:
- "ivf" (default): an inverted-file index. Spherical k-means on a sample picks n / cell_size
  centroids; each document lives in its nearest cell and is compared, by one matrix product per cell,
  with the documents of its `nprobe` nearest cells. Work is nprobe * n * cell_size: linear in n.
- "brp": pyspark.ml BucketedRandomProjectionLSH. Spark's BRP has one projection per table and no
  AND-amplification, so in 384 dimensions its buckets are wide slabs (random unit vectors project
  with about the same spread as near pairs differ): fine for a few thousand documents, close to
  all pairs beyond. `make bench` P3 measures the ivf path only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd
from pyspark.ml.feature import BucketedRandomProjectionLSH
from pyspark.ml.functions import array_to_vector
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.window import Window

from ..config import GraphConfig, SampleConfig


def cosine_to_euclidean(cosine: float) -> float:
    """For unit vectors |a-b|^2 = 2 - 2cos, so a cosine floor is a Euclidean ceiling."""
    return math.sqrt(max(0.0, 2.0 - 2.0 * cosine))


def similarity_edges(vecs: DataFrame, cfg: GraphConfig, seed: int = 42) -> DataFrame:
    """Edges (src, dst, cosine) with src < dst between documents whose cosine >= cfg.cosine_threshold."""
    if cfg.method == "ivf":
        return ivf_edges(vecs, cfg, seed)
    return brp_edges(vecs, cfg, seed)


EDGE_SCHEMA = T.StructType([T.StructField("src", T.StringType()), T.StructField("dst", T.StringType()),
                            T.StructField("cosine", T.DoubleType())])
CELL_SCHEMA = T.StructType([T.StructField("cell", T.IntegerType()), T.StructField("id", T.StringType()),
                            T.StructField("embedding", T.ArrayType(T.FloatType())),
                            T.StructField("home", T.BooleanType())])


def spherical_kmeans(x: np.ndarray, k: int, iters: int, seed: int) -> np.ndarray:
    """k unit centroids for unit rows of x (cosine k-means); an emptied cluster is re-seeded."""
    rng = np.random.default_rng(seed)
    k = max(1, min(k, len(x)))
    c = x[rng.choice(len(x), size=k, replace=False)].copy()
    for _ in range(iters):
        assign = np.argmax(x @ c.T, axis=1)
        sums = np.zeros_like(c)
        np.add.at(sums, assign, x)
        norms = np.linalg.norm(sums, axis=1)
        empty = norms == 0
        sums[empty] = x[rng.choice(len(x), size=int(empty.sum()), replace=True)]
        c = sums / np.linalg.norm(sums, axis=1, keepdims=True)
    return c.astype(np.float32)


def _assign_cells(centroids: np.ndarray, nprobe: int) -> Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]:
    def _map(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for b in batches:
            if b.empty:
                continue
            x = np.stack(b["embedding"].to_numpy()).astype(np.float32)
            near = np.argsort(-(x @ centroids.T), axis=1)[:, :nprobe]
            for j in range(near.shape[1]):
                yield pd.DataFrame({"cell": near[:, j].astype(np.int32), "id": b["id"].to_numpy(),
                                    "embedding": b["embedding"].to_numpy(), "home": j == 0})
    return _map


def _pairs_in_cell(threshold: float, block: int = 2048) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def _pairs(cell: pd.DataFrame) -> pd.DataFrame:
        home = cell[cell["home"]]
        if home.empty:
            return pd.DataFrame({"src": [], "dst": [], "cosine": []})
        m = np.stack(home["embedding"].to_numpy()).astype(np.float32)
        m_ids = home["id"].to_numpy()
        q_all = np.stack(cell["embedding"].to_numpy()).astype(np.float32)
        q_ids_all = cell["id"].to_numpy()
        src, dst, cos = [], [], []
        for start in range(0, len(q_all), block):  # bounded memory for a crowded cell
            sims = q_all[start:start + block] @ m.T
            qi, mi = np.nonzero(sims >= threshold)
            a, b = q_ids_all[start + qi], m_ids[mi]
            keep = a != b
            a, b, s = a[keep], b[keep], sims[qi, mi][keep]
            src.append(np.where(a < b, a, b))
            dst.append(np.where(a < b, b, a))
            cos.append(s.astype(np.float64))
        return pd.DataFrame({"src": np.concatenate(src), "dst": np.concatenate(dst), "cosine": np.concatenate(cos)})
    return _pairs


def ivf_edges(vecs: DataFrame, cfg: GraphConfig, seed: int = 42) -> DataFrame:
    n = vecs.count()
    if n == 0:
        return vecs.sparkSession.createDataFrame([], EDGE_SCHEMA)
    k = max(1, math.ceil(n / cfg.cell_size))
    frac = min(1.0, cfg.train_sample / n)
    sample = [r["embedding"] for r in vecs.sample(fraction=frac, seed=seed).select("embedding").collect()]
    if len(sample) < k:  # a small sample fraction can come up short; take rows directly then
        sample = [r["embedding"] for r in vecs.select("embedding").limit(max(k, cfg.train_sample)).collect()]
    centroids = spherical_kmeans(np.asarray(sample, dtype=np.float32), k, cfg.kmeans_iter, seed)
    cells = vecs.select("id", "embedding").mapInPandas(_assign_cells(centroids, min(cfg.nprobe, len(centroids))),
                                                       CELL_SCHEMA)
    edges = cells.groupBy("cell").applyInPandas(_pairs_in_cell(cfg.cosine_threshold), EDGE_SCHEMA)
    # A pair seen from two cells is one edge (its cosines are equal up to rounding).
    return edges.groupBy("src", "dst").agg(F.max("cosine").alias("cosine"))


def brp_edges(vecs: DataFrame, cfg: GraphConfig, seed: int = 42) -> DataFrame:
    """Edges via bucketed random projections (pyspark.ml); see the module docstring for its limits.

    BRP hashes each unit vector into buckets per table; only pairs sharing a bucket are compared,
    so the cost grows with the number of near neighbours, not with n².
    """
    data = vecs.select("id", array_to_vector("embedding").alias("vec"))
    lsh = BucketedRandomProjectionLSH(inputCol="vec", outputCol="hashes", seed=seed,
                                      bucketLength=cfg.lsh_bucket_length, numHashTables=cfg.lsh_num_tables)
    model = lsh.fit(data)
    hashed = model.transform(data).cache()
    pairs = model.approxSimilarityJoin(hashed, hashed, cosine_to_euclidean(cfg.cosine_threshold), "dist")
    return (
        pairs.select(F.col("datasetA.id").alias("src"), F.col("datasetB.id").alias("dst"), "dist")
        .where(F.col("src") < F.col("dst"))
        .withColumn("cosine", 1.0 - F.col("dist") * F.col("dist") / 2.0)
        .drop("dist")
        .dropDuplicates(["src", "dst"])
    )


def label_propagation(vertices: DataFrame, edges: DataFrame, cfg: GraphConfig) -> DataFrame:
    """id -> community. Every vertex is kept: one without edges is its own community."""
    from graphframes import GraphFrame  # lives inside the GraphFrames jar

    undirected = edges.select("src", "dst").unionByName(edges.select(F.col("dst").alias("src"),
                                                                      F.col("src").alias("dst")))
    # GraphFrames numbers string ids by partition order, and LPA breaks label ties by message order:
    # sorting both inputs makes the numbering, and so the communities, the same on every run.
    g = GraphFrame(vertices.select("id").orderBy("id"), undirected.orderBy("src", "dst"))
    # GraphX Pregel under labelPropagation checkpoints every spark.graphx.pregel.checkpointInterval
    # iterations (set by build_spark from graph.checkpoint_interval), so long runs keep a short lineage.
    labels = g.labelPropagation(maxIter=cfg.lpa_max_iter)
    # LPA labels are internal longs; name a community by its smallest member for readable output.
    named = labels.withColumn("community", F.min("id").over(Window.partitionBy("label")))
    return named.select("id", "community")


def sample_per_community(docs: DataFrame, cfg: SampleConfig) -> DataFrame:
    """Up to k documents per community, then round-robin across communities up to max_docs (in that order).

    Ordering by a seeded hash makes the choice reproducible and independent of partitioning.
    """
    key = F.xxhash64("id", F.lit(cfg.seed))
    ranked = docs.withColumn("community_rank", F.row_number().over(
        Window.partitionBy("community").orderBy(key, "id")))
    kept = ranked.where(F.col("community_rank") <= cfg.per_community)
    order = Window.orderBy("community_rank", F.xxhash64("community", F.lit(cfg.seed)), "community")
    # selection_order (0-based): seeds take the first documents, each augmentation round the next window
    return (kept.withColumn("selection_order", F.row_number().over(order) - 1)
            .where(F.col("selection_order") < cfg.max_docs))


def community_sizes(communities: DataFrame) -> DataFrame:
    return communities.groupBy("community").agg(F.count("*").alias("size"))


def nearest_neighbours(edges: DataFrame) -> DataFrame:
    """edges(src, dst, cosine) -> (id, neighbour_id, neighbour_cosine): each document's most similar
    other document (ties by id, so reruns agree). Documents without an edge get no row."""
    both = edges.select(F.col("src").alias("id"), F.col("dst").alias("neighbour_id"), "cosine").unionByName(
        edges.select(F.col("dst").alias("id"), F.col("src").alias("neighbour_id"), "cosine"))
    rank = F.row_number().over(Window.partitionBy("id").orderBy(F.col("cosine").desc(), "neighbour_id"))
    return (both.withColumn("_r", rank).where(F.col("_r") == 1)
            .select("id", "neighbour_id", F.col("cosine").alias("neighbour_cosine")))
