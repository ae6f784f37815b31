"""The communities stage as it ran before GraphFrames did the work: the same rule (synchronous, GraphX's vote,
ties to the smallest label, labels checkpointed every round) on plain DataFrame joins. Kept here only so P3 can
time it next to the GraphFrames version on the same edges."""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F


def label_propagation(vertices: DataFrame, edges: DataFrame, max_iter: int) -> DataFrame:
    undirected = edges.select("src", "dst").unionByName(edges.select(F.col("dst").alias("src"),
                                                                      F.col("src").alias("dst"))).distinct()
    labels = vertices.select("id").distinct().withColumn("label", F.col("id"))
    for _ in range(max_iter):
        heard = undirected.join(labels.withColumnRenamed("id", "src"), "src").select(F.col("dst").alias("id"), "label")
        best = (heard.groupBy("id", "label").count()
                .groupBy("id").agg(F.min(F.struct((-F.col("count")).alias("c"), "label")).alias("b"))
                .select("id", F.col("b.label").alias("new")))
        labels = labels.join(best, "id", "left").select("id", F.coalesce("new", "label").alias("label")).checkpoint()
    named = labels.withColumn("community", F.min("id").over(Window.partitionBy("label")))
    return named.select("id", "community")
