import gzip
import json

import pytest
from pyspark.sql import functions as F

from fanno_spark.config import GraphConfig, InputConfig, PrescreenConfig, SampleConfig
from fanno_spark.io.readers import read_corpus
from fanno_spark.prescreen import graph, heuristics

pytestmark = pytest.mark.spark

GOOD = ("The library provides a simple way to read and write files. It is used by many programs, and the "
        "functions are documented with examples that show how to open a file, read its lines and close it. "
        "You can also use it with the context manager so that the file is closed for you when the block ends. "
        "This makes the code shorter and safer, and it is the style that the tutorial recommends to new users.")


def test_reader_keeps_bad_records_with_reasons(spark, tmp_path):
    lines = [
        json.dumps({"id": "a", "text": GOOD, "url": "u"}),
        "{broken json",
        "",
        json.dumps({"id": "b", "text": 42}),
        json.dumps({"id": "c", "text": None}),
        json.dumps({"text": GOOD + " x"}),
        json.dumps({"id": "a", "text": "another doc with a reused id"}),
        json.dumps({"id": "d", "text": ["a", "list"]}),
    ]
    path = tmp_path / "c.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    df = read_corpus(spark, InputConfig(path=str(path)))
    rows = {(r["id"], r["read_error"]) for r in df.collect()}
    assert df.count() == len(lines)  # nothing silently lost
    errors = sorted(e for _, e in rows if e)
    assert errors == sorted(["malformed_json", "empty_line", "non_string_text", "missing_text", "missing_id",
                             "duplicate_id", "non_string_text"])
    assert ("a", None) in rows


def scored(spark, texts):
    df = spark.createDataFrame([(f"d{i}", t, None) for i, t in enumerate(texts)], "id string, text string, "
                                                                                   "read_error string")
    return heuristics.decide(heuristics.score_documents(df), PrescreenConfig()).orderBy("id").collect()


def test_heuristics_pass_prose_and_fail_crafted_junk(spark):
    texts = [
        GOOD,                                                   # passes
        "too short to keep",                                   # too_few_words
        " ".join(["#tag"] * 30 + ["the", "and"] * 20),         # symbol_ratio
        " ".join(["1234 5678 9999"] * 40),                     # low alpha (mean word length passes)
        " ".join(["lorem ipsum dolor sit amet consectetur"] * 20),  # few_stop_words
        "\n".join(["- the item and the thing with words"] * 20),    # bullet_lines
        "\n".join([f"line {i} of the text and more with words" for i in range(5)] * 4),  # duplicate_lines
        GOOD,                                                   # exact duplicate of d0
    ]
    reasons = [r["drop_reason"] for r in scored(spark, texts)]
    assert reasons == [None, "too_few_words", "symbol_ratio", "low_alpha_ratio", "few_stop_words",
                       "bullet_lines", "duplicate_lines", "exact_duplicate"]


def test_score_columns_are_numbers(spark):
    row = scored(spark, [GOOD])[0]
    assert row["n_words"] == len(GOOD.split())
    assert 3 < row["mean_word_length"] < 6 and row["stop_words"] >= 2 and row["alpha_word_ratio"] == 1.0


def test_lsh_edges_find_near_vectors_only(spark):
    import numpy as np

    rng = np.random.default_rng(0)
    centers = rng.normal(size=(3, 32))
    rows = []
    for c in range(3):
        for j in range(5):
            v = centers[c] + 0.05 * rng.normal(size=32)
            rows.append((f"c{c}-{j}", (v / np.linalg.norm(v)).astype(float).tolist()))
    v = rng.normal(size=32)
    rows.append(("lonely", (v / np.linalg.norm(v)).tolist()))
    vecs = spark.createDataFrame(rows, "id string, embedding array<double>")
    edges = graph.similarity_edges(vecs, GraphConfig(cosine_threshold=0.9, lsh_bucket_length=0.5,
                                                     lsh_num_tables=8)).collect()
    assert edges and all(e["src"] < e["dst"] and e["cosine"] >= 0.9 for e in edges)
    assert all(e["src"].split("-")[0] == e["dst"].split("-")[0] for e in edges)
    assert len(edges) >= 25  # most of the 3 x 10 within-cluster pairs


def test_label_propagation_known_communities_and_singletons(spark):
    edges = [("a1", "a2"), ("a2", "a3"), ("a1", "a3"), ("b1", "b2"), ("b2", "b3"), ("b1", "b3")]
    ids = ["a1", "a2", "a3", "b1", "b2", "b3", "solo1", "solo2"]
    v = spark.createDataFrame([(i,) for i in ids], "id string")
    e = spark.createDataFrame(edges, "src string, dst string").withColumn("cosine", F.lit(0.9))
    comm = {r["id"]: r["community"] for r in graph.label_propagation(v, e, GraphConfig(lpa_max_iter=5)).collect()}
    assert set(comm) == set(ids)  # FANNO dropped singletons; every vertex must survive
    assert comm["a1"] == comm["a2"] == comm["a3"] == "a1"
    assert comm["b1"] == comm["b2"] == comm["b3"] == "b1"
    assert comm["solo1"] == "solo1" and comm["solo2"] == "solo2"


def test_sample_per_community_keeps_singletons_and_caps(spark):
    rows = [(f"big{i}", "big") for i in range(10)] + [("s1", "s1"), ("s2", "s2")]
    docs = spark.createDataFrame(rows, "id string, community string")
    out = graph.sample_per_community(docs, SampleConfig(per_community=2, max_docs=100, seed=1)).collect()
    assert sorted(r["community"] for r in out) == ["big", "big", "s1", "s2"]
    capped = graph.sample_per_community(docs, SampleConfig(per_community=2, max_docs=3, seed=1)).collect()
    assert len(capped) == 3 and len({r["community"] for r in capped}) == 3  # round-robin first
    again = graph.sample_per_community(docs, SampleConfig(per_community=2, max_docs=3, seed=1)).collect()
    assert sorted(r["id"] for r in again) == sorted(r["id"] for r in capped)
