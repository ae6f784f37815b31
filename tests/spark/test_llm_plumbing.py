"""LLM plumbing on Spark with the deterministic fake engine (the real model runs in tests/e2e)."""

import json

import pytest
from pyspark.sql import functions as F

from fanno_spark.config import FilterConfig
from fanno_spark.fs import LocalFS
from fanno_spark.generate import instruction_filter, instruction_prompts, responses
from fanno_spark.llm.engine import EngineSpec, Sampling
from fanno_spark.llm.spark_generate import generate_cached

pytestmark = pytest.mark.spark
SPEC = EngineSpec(kind="fake", model="fake")


def docs(spark, n):
    return spark.createDataFrame([(f"doc{i}", f"Document {i} says the sky is blue number {i}.", f"c{i % 2}")
                                  for i in range(n)], "id string, text string, community string")


def test_cache_sends_only_missing_prompts(spark, tmp_path):
    sampling = Sampling(max_tokens=16)
    prompts = instruction_prompts.seed_prompts(docs(spark, 6), "fake", sampling, prompts_per_doc=2, seed=0,
                                               budget=None)
    out, stats = generate_cached(spark, prompts.limit(4), SPEC, sampling, str(tmp_path / "cache"), LocalFS(), "s1")
    assert stats.sent == 4 and stats.cached == 0 and out.where(F.col("text").isNull()).count() == 0
    out, stats = generate_cached(spark, prompts, SPEC, sampling, str(tmp_path / "cache"), LocalFS(), "s1")
    assert stats.prompts == 12 and stats.cached == 4 and stats.sent == 8
    assert out.count() == 12 and out.where(F.col("text").isNull()).count() == 0
    _, stats = generate_cached(spark, prompts, SPEC, sampling, str(tmp_path / "cache"), LocalFS(), "s1")
    assert stats.sent == 0 and stats.cached == 12  # a rerun pays nothing
    cache = spark.read.parquet(str(tmp_path / "cache"))
    assert cache.count() == cache.select("prompt_hash").distinct().count() == 12


def test_seed_prompts_carry_tags_and_distinct_hashes(spark):
    prompts = instruction_prompts.seed_prompts(docs(spark, 5), "fake", Sampling(max_tokens=8), 3, 0, None).collect()
    assert len(prompts) == 15 and len({p["prompt_hash"] for p in prompts}) == 15
    assert all(p["task_type"] and p["difficulty"] and p["style"] in ("command", "question") for p in prompts)


@pytest.mark.parametrize("style, stated", [("fanno", {"style"}), ("compact", {"task_type", "style"})])
def test_augment_prompts_carry_only_the_tags_their_prompt_states(spark, style, stated):
    picks = spark.createDataFrame([(f"doc{i}", ["p1", "p2"], ["Explain tides.", "Why is the sky blue?"]) for i in range(4)],
                                  "doc_id string, fewshot_ids array<string>, fewshot_texts array<string>")
    rows = instruction_prompts.augment_prompts(docs(spark, 4), picks, "fake", Sampling(max_tokens=8), 1, 0, None,
                                               style).collect()
    assert len(rows) == 4
    for r in rows:
        conv = r["conversation"]
        for tag in ("task_type", "difficulty", "style"):
            assert (r[tag] is not None) == (tag in stated), (tag, r[tag])
        assert r["style"] in ("command", "question") and "Explain tides." in conv
        assert r["task_type"] is None or r["task_type"] in conv  # a stated tag is in the prompt


def test_instruction_filter_reasons_and_pool_dedup(spark):
    rows = [
        ("d1", "h1", "Explain why the sky looks blue during the day.", []),
        ("d2", "h2", "Explain why the sky looks blue during the day!", []),   # same normalised text
        ("d3", "h3", "Describe the image below in detail please.", []),       # banned keyword
        ("d4", "h4", "Why?", []),                                             # too short
        ("d5", "h5", "Explain what is known about how rain clouds form.", []),  # 'known' is not 'now'
        ("d6", "h6", "Summarise how rivers carve canyons over millions of years.", []),  # in pool already
        ("d7", "h7", None, []),
        ("d8", "h8", "Sure! Here is one:\nTranslate the following sentence into French:\nThe cat sleeps.", []),
        ("d9", "h9", "Based on the passage, why did the river flood?", []),
        ("d10", "h10", "I'm ready to help. What is your task?", []),
        ("d11", "h11", "What will the weather be like tomorrow in Oslo?", []),
    ]
    generated = spark.createDataFrame(rows, "doc_id string, prompt_hash string, text string, "
                                            "fewshot_texts array<string>")
    generated = generated.withColumn("finish_reason", F.lit("stop")).withColumn("prompt_tokens", F.lit(1)) \
        .withColumn("completion_tokens", F.lit(1)).withColumn("conversation", F.lit("[]"))
    pool = spark.createDataFrame([("Summarise how rivers carve canyons over millions of years.",)], "instruction string") \
        .withColumn("input", F.lit("")).withColumn("instruction_id", instruction_filter.instruction_key())
    cfg = FilterConfig(banned_words=("image",))
    filtered = {r["doc_id"]: r for r in instruction_filter.parse_and_filter_instructions(generated, pool, cfg, 1)
                .collect()}
    out = {k: r["drop_reason"] for k, r in filtered.items()}
    assert out == {"d1": None, "d2": "duplicate_in_round", "d3": "banned_keyword", "d4": "too_short",
                   "d5": None, "d6": "duplicate_of_pool", "d7": "no_generation", "d8": None,
                   "d9": "refers_to_source", "d10": "not_a_request", "d11": "time_sensitive"}
    assert filtered["d8"]["instruction"] == "Translate the following sentence into French:"
    assert filtered["d8"]["input"] == "The cat sleeps." and filtered["d1"]["input"] == ""


def test_response_prompt_carries_the_input(spark):
    rows = spark.createDataFrame([("Translate the following sentence into French:", "The cat sleeps."),
                                  ("Explain tides.", "")], "instruction string, input string")
    convs = [json.loads(r["conversation"]) for r in responses.response_prompts(rows, "fake", Sampling(max_tokens=8))
             .orderBy("instruction").collect()]
    assert convs[0][-1]["content"] == "Explain tides."
    assert convs[1][-1]["content"] == "Translate the following sentence into French:\nThe cat sleeps."
    assert "honest assistant" in convs[1][0]["content"]  # FANNO's response system prompt


def test_rag_prompt_carries_the_nearest_neighbour_document(spark):
    from fanno_spark.prescreen.graph import nearest_neighbours

    kept = spark.createDataFrame([("a", "Alpha text about tides."), ("b", "Beta text about the moon."),
                                  ("c", "Gamma text about waves."), ("z", "Zeta, alone.")], "id string, text string")
    edges = spark.createDataFrame([("a", "b", 0.91), ("a", "c", 0.75), ("b", "c", 0.95)],
                                  "src string, dst string, cosine double")
    nn = {r["id"]: (r["neighbour_id"], r["neighbour_cosine"]) for r in nearest_neighbours(edges).collect()}
    assert nn == {"a": ("b", 0.91), "b": ("c", 0.95), "c": ("b", 0.95)}
    instr = spark.createDataFrame([("a", "Explain tides."), ("z", "Describe zeta.")], "doc_id string, instruction string")
    rows = {r["doc_id"]: r for r in responses.rag_response_prompts(instr, kept, nearest_neighbours(edges), "fake",
                                                              Sampling(max_tokens=8), None).collect()}
    conv_a = rows["a"]["conversation"]
    assert rows["a"]["rag_neighbour_id"] == "b"
    assert "Alpha text about tides." in conv_a and "Beta text about the moon." in conv_a
    assert "Gamma" not in conv_a and conv_a.count("<document>") == 2 and "Explain tides." in conv_a
    assert rows["z"]["rag_neighbour_id"] is None and rows["z"]["conversation"].count("<document>") == 1
    assert rows["a"]["prompt_hash"] != rows["z"]["prompt_hash"]


def test_pair_judge_scores_drop_low_and_feed_rewards(spark, tmp_path):
    from fanno_spark.config import JudgeConfig
    from fanno_spark.generate import judge

    pairs = spark.createDataFrame(
        [(f"i{n}", f"Explain topic {n} in two sentences.", f"Topic {n} is about things {n}.", None)
         for n in range(16)] + [("bad", "Broken one.", None, "truncated")],
        "instruction_id string, instruction string, output string, drop_reason string")
    cfg = JudgeConfig(min_score=3.0)
    sampling = judge.judge_sampling(cfg)
    prompts = judge.judge_prompts(pairs, "fake", sampling, 500)
    assert prompts.count() == 16  # only valid pairs are judged
    generated, stats = generate_cached(spark, prompts, SPEC, sampling, str(tmp_path / "cache"), LocalFS(), "judged_r0")
    out = {r["instruction_id"]: r for r in judge.apply_scores(pairs, generated, cfg).collect()}
    assert out["bad"]["drop_reason"] == "truncated" and out["bad"]["judge_score"] is None
    scores = [out[f"i{n}"]["judge_score"] for n in range(16)]
    assert all(1.0 <= s <= 5.0 for s in scores) and len(set(scores)) > 1
    for n in range(16):
        r = out[f"i{n}"]
        assert r["drop_reason"] == ("low_judge_score" if r["judge_score"] < 3.0 else None)
    assert {r["drop_reason"] for r in out.values()} >= {None, "low_judge_score"}
