"""Similarity graph by LSH (never all pairs), GraphFrames label propagation, diverse sampling."""

from __future__ import annotations

import math

from pyspark.ml.feature import BucketedRandomProjectionLSH
from pyspark.ml.functions import array_to_vector
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from ..config import GraphConfig, SampleConfig


def cosine_to_euclidean(cosine: float) -> float:
    """For unit vectors |a-b|^2 = 2 - 2cos, so a cosine floor is a Euclidean ceiling."""
    return math.sqrt(max(0.0, 2.0 - 2.0 * cosine))


def similarity_edges(vecs: DataFrame, cfg: GraphConfig, seed: int = 42) -> DataFrame:
    """Edges (src < dst) between documents whose cosine >= threshold, via bucketed random projections.

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
    g = GraphFrame(vertices.select("id"), undirected)
    labels = g.labelPropagation(maxIter=cfg.lpa_max_iter)
    # LPA labels are internal longs; name a community by its smallest member for readable output.
    named = labels.withColumn("community", F.min("id").over(Window.partitionBy("label")))
    return named.select("id", "community")


def sample_per_community(docs: DataFrame, cfg: SampleConfig) -> DataFrame:
    """Up to k documents per community, then round-robin across communities up to max_docs.

    Ordering by a seeded hash makes the choice reproducible and independent of partitioning.
    """
    key = F.xxhash64("id", F.lit(cfg.seed))
    ranked = docs.withColumn("community_rank", F.row_number().over(
        Window.partitionBy("community").orderBy(key, "id")))
    kept = ranked.where(F.col("community_rank") <= cfg.per_community)
    order = Window.orderBy("community_rank", F.xxhash64("community", F.lit(cfg.seed)), "community")
    return kept.withColumn("_pick", F.row_number().over(order)).where(F.col("_pick") <= cfg.max_docs).drop("_pick")


def community_sizes(communities: DataFrame) -> DataFrame:
    return communities.groupBy("community").agg(F.count("*").alias("size"))
