"""Diversity filter on real MiniLM embeddings: the exact driver-side comparison and the IVF edge search
(no all-pairs) decide the same; the pool's vectors come from earlier rounds, not from a new embedding."""

import pytest
from pyspark.sql import functions as F

from fanno_spark.config import EmbedConfig, GraphConfig
from fanno_spark.generate.diversity import VEC, mark_similar
from fanno_spark.generate.instruction_filter import instruction_key
from fanno_spark.llm.model_store import embedding_model_path

pytestmark = pytest.mark.spark


def frame(spark, rows, cols="instruction string, drop_reason string"):
    return spark.createDataFrame(rows, cols).withColumn("input", F.lit("")).withColumn("instruction_id", instruction_key())


def pool_vectors(spark, pool):
    """What an earlier round wrote: the pool's ids with their vectors (embedded once, in that round)."""
    first = mark_similar(pool, None, 0.99, EmbedConfig(), GraphConfig(), embedding_model_path())
    return first.select(F.col("instruction_id").alias("id"), F.col(VEC).alias("embedding"))


@pytest.mark.parametrize("exact_max", [8192, 0], ids=["exact", "ivf"])
def test_paraphrases_of_the_pool_and_of_the_round_go_distinct_ones_stay(spark, exact_max):
    pool = frame(spark, [("Explain how the Python garbage collector frees reference cycles.", None),
                         ("Write a haiku about autumn leaves.", None)])
    cands = frame(spark, [
        ("Explain how Python's garbage collector frees reference cycles.", None),   # paraphrase of pool
        ("Summarise the causes of the French Revolution in three sentences.", None),  # new
        ("Summarize the causes of the French Revolution in 3 sentences.", None),     # paraphrase in round
        ("Compute the derivative of x squared times sine x.", None),                 # new
        ("Write a haiku about autumn leaves!", "duplicate_of_pool"),                 # already dropped
    ])
    out = mark_similar(cands, pool_vectors(spark, pool), 0.9, EmbedConfig(), GraphConfig(), embedding_model_path(),
                       exact_max=exact_max).collect()
    by = {r["instruction"]: r for r in out}
    assert len(out) == 5
    assert by["Explain how Python's garbage collector frees reference cycles."]["drop_reason"] == "similar_to_pool"
    assert by["Compute the derivative of x squared times sine x."]["drop_reason"] is None
    fr = [by["Summarise the causes of the French Revolution in three sentences."],
          by["Summarize the causes of the French Revolution in 3 sentences."]]
    assert sorted(r["drop_reason"] or "" for r in fr) == ["", "similar_in_round"]
    kept_fr = next(r for r in fr if r["drop_reason"] is None)
    dropped_fr = next(r for r in fr if r["drop_reason"])
    assert dropped_fr["similar_to"] == kept_fr["instruction_id"] < dropped_fr["instruction_id"]
    assert by["Write a haiku about autumn leaves!"]["drop_reason"] == "duplicate_of_pool"
    # candidates that were alive carry their unit vector for the next round; the dropped one none
    assert by["Write a haiku about autumn leaves!"][VEC] is None
    assert all(abs(sum(x * x for x in by[t][VEC]) - 1) < 1e-3 for t in by if t != "Write a haiku about autumn leaves!")


def test_no_pool_and_nothing_similar_keeps_all(spark):
    cands = frame(spark, [("Name three prime numbers.", None), ("Describe a river delta.", None)])
    out = mark_similar(cands, None, 0.9, EmbedConfig(), GraphConfig(), embedding_model_path())
    assert out.where(F.col("drop_reason").isNotNull()).count() == 0 and out.count() == 2
