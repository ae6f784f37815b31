"""Similarity graph without all pairs, GraphFrames label propagation, diverse sampling.

Two ways to find the edges (cosine >= threshold between unit embeddings), chosen by graph.method:
- "ivf" (default): an inverted-file index. Spherical k-means on a sample picks k = n / cell_size
  centroids; each document joins its `nprobe` nearest cells and is compared, by one matrix product per
  cell, with every document of them. The centroids form two levels (FAISS's IVF with a
  coarse quantiser): sqrt(k) coarse centroids, each refined into fine ones on its share of the sample,
  so placing a document costs sqrt(k) + coarse_nprobe * k / sqrt(k) dot products instead of k. Work is
  n * (nprobe^2 * cell_size / 2 + sqrt(n / cell_size)): linear in n up to a slowly growing factor.
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
                            T.StructField("embedding", T.ArrayType(T.FloatType()))])


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


def top_k(sims: np.ndarray, k: int) -> np.ndarray:
    """Column indices of each row's k largest values, best first (argpartition: O(cols), not a sort)."""
    k = min(k, sims.shape[1])
    part = np.argpartition(-sims, k - 1, axis=1)[:, :k] if k < sims.shape[1] else np.tile(
        np.arange(sims.shape[1]), (len(sims), 1))
    order = np.argsort(-np.take_along_axis(sims, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


class TwoLevelQuantizer:
    """Coarse centroids, each with its own fine centroids; cells are the fine centroids, numbered 0..k-1."""

    def __init__(self, coarse: np.ndarray, fine: list[np.ndarray]):
        self.coarse = coarse
        self.fine = fine
        self.offsets = np.cumsum([0] + [len(f) for f in fine])

    @property
    def cells(self) -> int:
        return int(self.offsets[-1])

    @classmethod
    def fit(cls, x: np.ndarray, k: int, iters: int, seed: int) -> TwoLevelQuantizer:
        k = max(1, min(k, len(x)))
        k1 = max(1, min(k, math.isqrt(k - 1) + 1))
        coarse = spherical_kmeans(x, k1, iters, seed)
        home = np.argmax(x @ coarse.T, axis=1)
        fine = []
        for c in range(len(coarse)):  # each coarse cell gets fine centroids in proportion to its share
            members = x[home == c]
            kc = max(1, round(k * len(members) / len(x))) if len(members) else 0
            fine.append(spherical_kmeans(members, kc, iters, seed + c + 1) if kc else coarse[c:c + 1])
        return cls(coarse, fine)

    def nearest(self, x: np.ndarray, nprobe: int, coarse_nprobe: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per rank j < nprobe: (row indices, fine cell ids) of the rows' j-th nearest cell, searched among
        their coarse_nprobe nearest coarse cells (a row near few fine centroids may have fewer ranks)."""
        near_coarse = top_k(x @ self.coarse.T, coarse_nprobe)
        rows, cells, sims = [], [], []
        for c in np.unique(near_coarse):
            idx = np.nonzero((near_coarse == c).any(axis=1))[0]
            s = x[idx] @ self.fine[c].T
            best = top_k(s, nprobe)
            rows.append(np.repeat(idx, best.shape[1]))
            cells.append((best + self.offsets[c]).ravel())
            sims.append(np.take_along_axis(s, best, axis=1).ravel())
        rows, cells, sims = np.concatenate(rows), np.concatenate(cells), np.concatenate(sims)
        order = np.lexsort((-sims, rows))  # by row, best first
        rows, cells = rows[order], cells[order]
        first = np.searchsorted(rows, np.arange(len(x)))
        count = np.diff(np.append(first, len(rows)))
        return [(np.nonzero(count > j)[0], cells[first[count > j] + j]) for j in range(nprobe)]


def _assign_cells(q: TwoLevelQuantizer, nprobe: int, coarse_nprobe: int
                  ) -> Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]:
    def _map(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for b in batches:
            if b.empty:
                continue
            x = np.stack(b["embedding"].to_numpy()).astype(np.float32)
            ids, emb = b["id"].to_numpy(), b["embedding"].to_numpy()
            for rows, cells in q.nearest(x, nprobe, coarse_nprobe):
                if len(rows):
                    yield pd.DataFrame({"cell": cells.astype(np.int32), "id": ids[rows], "embedding": emb[rows]})
    return _map


def _pairs_in_cell(threshold: float, block: int = 2048) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """Every pair of the cell's documents (each document sits in its `nprobe` nearest cells), so a pair is
    found when the two documents' probed cells share one. Comparing a cell's visitors with its home
    members only (FAISS's search: a query against the cells it probes) found a pair only when one side's
    nearest cell was among the other's probes: recall 0.870 at 1M documents (k = 1,000 cells)."""
    def _pairs(cell: pd.DataFrame) -> pd.DataFrame:
        m = np.stack(cell["embedding"].to_numpy()).astype(np.float32)
        ids = cell["id"].to_numpy()
        src, dst, cos = [], [], []
        for start in range(0, len(m), block):  # bounded memory for a crowded cell; upper triangle only
            sims = m[start:start + block] @ m[start:].T
            qi, mi = np.nonzero(sims >= threshold)
            keep = qi < mi  # the block's own rows against the rows from it on: each pair once
            qi, mi = qi[keep], mi[keep]
            a, b = ids[start + qi], ids[start + mi]
            keep = a != b
            a, b, s = a[keep], b[keep], sims[qi, mi][keep]
            src.append(np.where(a < b, a, b))
            dst.append(np.where(a < b, b, a))
            cos.append(s.astype(np.float64))
        if not src:
            return pd.DataFrame({"src": [], "dst": [], "cosine": []})
        return pd.DataFrame({"src": np.concatenate(src), "dst": np.concatenate(dst), "cosine": np.concatenate(cos)})
    return _pairs


def ivf_edges(vecs: DataFrame, cfg: GraphConfig, seed: int = 42) -> DataFrame:
    n = vecs.count()
    if n == 0:
        return vecs.sparkSession.createDataFrame([], EDGE_SCHEMA)
    k = max(1, math.ceil(n / cfg.cell_size))
    # FAISS asks >= 39 training vectors per centroid; a fixed 20k left 20 per cell at 1M documents
    frac = min(1.0, max(cfg.train_sample, cfg.train_per_cell * k) / n)
    sample = [r["embedding"] for r in vecs.sample(fraction=frac, seed=seed).select("embedding").collect()]
    if len(sample) < k:  # a small sample fraction can come up short; take rows directly then
        sample = [r["embedding"] for r in vecs.select("embedding").limit(max(k, cfg.train_sample)).collect()]
    quantizer = TwoLevelQuantizer.fit(np.asarray(sample, dtype=np.float32), k, cfg.kmeans_iter, seed)
    cells = vecs.select("id", "embedding").mapInPandas(
        _assign_cells(quantizer, min(cfg.nprobe, quantizer.cells), cfg.coarse_nprobe), CELL_SCHEMA)
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


# the most frequent label of an array of neighbour labels, ties to the smallest (min of (-count, label))
_MODE_SMALLEST = ("array_min(transform(array_distinct(heard), x -> named_struct("
                  "'c', -size(filter(heard, y -> y = x)), 'label', x))).label")


def label_propagation(vertices: DataFrame, edges: DataFrame, cfg: GraphConfig) -> DataFrame:
    """id -> community. Every vertex is kept: one without edges is its own community.

    Synchronous label propagation as GraphX runs it (each vertex takes the label most of its neighbours
    carry; `graph.lpa_max_iter` rounds), on GraphFrames' message passing (`aggregateMessages`: every edge
    sends each end the other end's label), with one change: a tie goes to the smallest label.
    GraphFrames' own labelPropagation (GraphX's, in the 0.8 jar) breaks ties by the order messages arrive,
    which differs between runs (two runs on one 200-vertex random graph disagreed), so the same input
    could give other communities and another selection. A self-loop carries no vote.
    """
    from graphframes import GraphFrame
    from graphframes.lib import AggregateMessages as AM

    pairs = (edges.where(F.col("src") != F.col("dst"))
             .select(F.least("src", "dst").alias("src"), F.greatest("src", "dst").alias("dst")).distinct()
             .checkpoint())  # read once per round: computed once
    labels = vertices.select("id").distinct().withColumn("label", F.col("id"))
    for _ in range(cfg.lpa_max_iter):
        heard = GraphFrame(labels, pairs).aggregateMessages(
            F.collect_list(AM.msg).alias("heard"), sendToSrc=AM.dst["label"], sendToDst=AM.src["label"])
        best = heard.select("id", F.expr(_MODE_SMALLEST).alias("new"))
        # checkpointed every round: the next round reads these labels twice, and an unbroken plan would
        # recompute every earlier round for each read
        labels = labels.join(best, "id", "left").select("id", F.coalesce("new", "label").alias("label")).checkpoint()
    # name a community by its smallest member for readable output
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
