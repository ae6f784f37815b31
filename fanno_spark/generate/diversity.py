"""Diversity filter: a new instruction goes when it means nearly the same as one already in the pool
(or as an earlier one of the same round), by MiniLM cosine.

Only the round's candidates are embedded: their vectors are written with the stage
(`instruction_embedding`), and later rounds read the pool's vectors back instead of embedding the
pool again. Up to `exact_max` vectors (pool + candidates) are compared exactly on the driver, blockwise
(bounded: exact_max x 384 floats); beyond that the IVF edge search of the document graph
(prescreen/graph.py) runs over pool + candidates and only edges that touch a candidate are used.
"""

from __future__ import annotations

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ..config import EmbedConfig, GraphConfig
from ..decide import drop_if
from ..prescreen import embed, graph

VEC = "instruction_embedding"
HIT_SCHEMA = T.StructType([T.StructField("instruction_id", T.StringType()),
                           T.StructField("similar_to", T.StringType()), T.StructField("_why", T.StringType())])


def exact_hits(cand: list[tuple[str, list[float]]], pool: list[tuple[str, list[float]]], threshold: float,
               block: int = 1024) -> list[tuple[str, str, str]]:
    """(candidate id, other id, why) for each candidate within `threshold` of a pool vector
    (similar_to_pool) or of a smaller-id candidate (similar_in_round); the pool wins, then the smallest id."""
    if not cand:
        return []
    c_ids = np.array([i for i, _ in cand], dtype=object)
    c = np.asarray([v for _, v in cand], dtype=np.float32)
    p_ids = np.array([i for i, _ in pool], dtype=object)
    p = np.asarray([v for _, v in pool], dtype=np.float32).reshape(len(pool), c.shape[1])
    out = []
    for start in range(0, len(c), block):
        rows, ids = c[start:start + block], c_ids[start:start + block]
        near_pool = (rows @ p.T) >= threshold if len(p) else np.zeros((len(rows), 0), dtype=bool)
        near_round = (rows @ c.T) >= threshold
        for k, cid in enumerate(ids):
            others = sorted(p_ids[near_pool[k]])
            if others:
                out.append((cid, others[0], "similar_to_pool"))
                continue
            smaller = sorted(o for o in c_ids[near_round[k]] if o < cid)
            if smaller:
                out.append((cid, smaller[0], "similar_in_round"))
    return out


def _ivf_hits(vecs: DataFrame, threshold: float, graph_cfg: GraphConfig) -> DataFrame:
    edges = graph.ivf_edges(vecs.select("id", "embedding"), graph_cfg.model_copy(update={"cosine_threshold": threshold}))
    is_cand = vecs.select("id", "_cand")
    e = (edges.join(is_cand.withColumnRenamed("id", "src").withColumnRenamed("_cand", "src_cand"), "src")
         .join(is_cand.withColumnRenamed("id", "dst").withColumnRenamed("_cand", "dst_cand"), "dst"))
    # Orient every edge as (candidate, other); an in-round pair drops only the larger id (src < dst).
    hits = (e.where(F.col("dst_cand") & ~F.col("src_cand"))
            .select(F.col("dst").alias("instruction_id"), F.col("src").alias("similar_to"),
                    F.lit("similar_to_pool").alias("_why"))
            .unionByName(e.where(F.col("src_cand") & ~F.col("dst_cand"))
                         .select(F.col("src").alias("instruction_id"), F.col("dst").alias("similar_to"),
                                 F.lit("similar_to_pool").alias("_why")))
            .unionByName(e.where(F.col("src_cand") & F.col("dst_cand"))
                         .select(F.col("dst").alias("instruction_id"), F.col("src").alias("similar_to"),
                                 F.lit("similar_in_round").alias("_why"))))
    # One reason per candidate: the pool wins over the round, then the smallest other id.
    return (hits.groupBy("instruction_id")
            .agg(F.min(F.struct(F.col("_why") != "similar_to_pool", "similar_to", "_why")).alias("_h"))
            .select("instruction_id", F.col("_h.similar_to").alias("similar_to"), F.col("_h._why").alias("_why")))


def mark_similar(cands: DataFrame, pool_vecs: DataFrame | None, threshold: float, embed_cfg: EmbedConfig,
                 graph_cfg: GraphConfig, model_path: str, exact_max: int = 8192) -> DataFrame:
    """cands(instruction_id, instruction, drop_reason) + pool vectors (id, embedding) -> the same rows with
    drop_reason similar_to_pool / similar_in_round for kept candidates within `threshold` cosine,
    `similar_to` (the other id) and `instruction_embedding` (kept candidates' vectors, for later rounds)."""
    spark = cands.sparkSession
    alive = cands.where(F.col("drop_reason").isNull()).select(F.col("instruction_id").alias("id"),
                                                              F.col("instruction").alias("text")).dropDuplicates(["id"])
    # One partition per 4,096 candidates: a round's few dozen instructions load MiniLM in one worker, not in all.
    n_alive = alive.count()
    parts = max(1, min(spark.sparkContext.defaultParallelism, -(-n_alive // 4096)))
    cand_vecs = embed.embed_documents(alive.repartition(parts), embed_cfg, model_path).select("id", "embedding").cache()
    pool = (pool_vecs.join(cand_vecs.select("id"), "id", "left_anti") if pool_vecs is not None
            else cand_vecs.limit(0))
    n = n_alive + pool.count()  # the candidates are counted once, above
    if n <= exact_max:  # a bounded collect: at most exact_max vectors
        hits = spark.createDataFrame(exact_hits([(r[0], r[1]) for r in cand_vecs.collect()],
                                                [(r[0], r[1]) for r in pool.collect()], threshold), HIT_SCHEMA)
    else:
        vecs = cand_vecs.withColumn("_cand", F.lit(True)).unionByName(pool.withColumn("_cand", F.lit(False)))
        hits = _ivf_hits(vecs, threshold, graph_cfg)
    out = (cands.join(hits, "instruction_id", "left")
           .join(cand_vecs.select(F.col("id").alias("instruction_id"), F.col("embedding").alias(VEC)),
                 "instruction_id", "left"))
    # cand_vecs stays cached until the stage is written (it is small: instructions)
    return drop_if(out, F.col("_why")).drop("_why")
