"""Diversity filter: a new instruction goes when it means nearly the same as one already in the pool
(or as an earlier one of the same round), by MiniLM cosine. No all-pairs comparison: the same IVF
edge search as the document graph (prescreen/graph.py) runs over pool + candidates, and only edges
that touch a candidate are used."""

from __future__ import annotations

from dataclasses import replace

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ..config import EmbedConfig, GraphConfig
from ..prescreen import embed, graph


def mark_similar(cands: DataFrame, pool: DataFrame | None, threshold: float, embed_cfg: EmbedConfig,
                 graph_cfg: GraphConfig, model_path: str) -> DataFrame:
    """cands(instruction_id, instruction, drop_reason) -> same rows, drop_reason similar_to_pool /
    similar_in_round for kept candidates within `threshold` cosine, and `similar_to` (the other id)."""
    alive = cands.where(F.col("drop_reason").isNull()).select(F.col("instruction_id").alias("id"),
                                                              F.col("instruction").alias("text"))
    items = alive.withColumn("_cand", F.lit(True))
    if pool is not None:
        items = items.unionByName(pool.select(F.col("instruction_id").alias("id"), F.col("instruction").alias("text"))
                                  .join(alive.select("id"), "id", "left_anti").withColumn("_cand", F.lit(False)))
    items = items.dropDuplicates(["id"])
    vecs = embed.embed_documents(items, embed_cfg, model_path).select("id", "embedding", "_cand").cache()
    edges = graph.ivf_edges(vecs.select("id", "embedding"), replace(graph_cfg, cosine_threshold=threshold))
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
    first = (hits.groupBy("instruction_id")
             .agg(F.min(F.struct(F.col("_why") != "similar_to_pool", "similar_to", "_why")).alias("_h"))
             .select("instruction_id", F.col("_h.similar_to").alias("similar_to"), F.col("_h._why").alias("_why")))
    out = cands.join(first, "instruction_id", "left")
    out = out.withColumn("drop_reason", F.coalesce(F.col("drop_reason"),
                                                   F.when(F.col("drop_reason").isNull(), F.col("_why"))))
    return out.drop("_why")  # vecs stays cached until the stage is written (it is small: instructions)
