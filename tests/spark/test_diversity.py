"""Diversity filter on real MiniLM embeddings and the IVF edge search (no all-pairs)."""

import pytest
from pyspark.sql import functions as F

from fanno_spark.config import EmbedConfig, GraphConfig
from fanno_spark.generate.diversity import mark_similar
from fanno_spark.generate.instruction_filter import instruction_key
from fanno_spark.llm.model_store import embedding_model_path

pytestmark = pytest.mark.spark


def frame(spark, rows, cols="instruction string, drop_reason string"):
    return spark.createDataFrame(rows, cols).withColumn("instruction_id", instruction_key())


def test_paraphrases_of_the_pool_and_of_the_round_go_distinct_ones_stay(spark):
    pool = frame(spark, [("Explain how the Python garbage collector frees reference cycles.", None),
                         ("Write a haiku about autumn leaves.", None)])
    cands = frame(spark, [
        ("Explain how Python's garbage collector frees reference cycles.", None),   # paraphrase of pool
        ("Summarise the causes of the French Revolution in three sentences.", None),  # new
        ("Summarize the causes of the French Revolution in 3 sentences.", None),     # paraphrase in round
        ("Compute the derivative of x squared times sine x.", None),                 # new
        ("Write a haiku about autumn leaves!", "duplicate_of_pool"),                 # already dropped
    ])
    out = mark_similar(cands, pool, 0.9, EmbedConfig(), GraphConfig(), embedding_model_path()).collect()
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


def test_no_pool_and_nothing_similar_keeps_all(spark):
    cands = frame(spark, [("Name three prime numbers.", None), ("Describe a river delta.", None)])
    out = mark_similar(cands, None, 0.9, EmbedConfig(), GraphConfig(), embedding_model_path())
    assert out.where(F.col("drop_reason").isNotNull()).count() == 0 and out.count() == 2
