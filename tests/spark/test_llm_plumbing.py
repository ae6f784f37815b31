"""LLM plumbing on Spark with the deterministic fake engine (the real model runs in tests/e2e)."""

import json
import threading

import pytest
from fanno_doubles import FAKE, STREAMING_FAKE
from pyspark.sql import functions as F

from fanno_spark.config import FilterConfig
from fanno_spark.fs import LocalFS
from fanno_spark.generate import instruction_filter, responses
from fanno_spark.generate.instruction_tasks import AugmentTask, SeedTask
from fanno_spark.llm.spark_generate import generate_cached, read_cache
from fanno_spark.llm.stage import LLMRun, build_prompts, parse_answers, run_task
from fanno_spark.llm.types import EngineSpec, Sampling, prompt_hash

pytestmark = pytest.mark.spark
SPEC = EngineSpec(kind=FAKE, model="fake")


def docs(spark, n):
    return spark.createDataFrame([(f"doc{i}", f"Document {i} says the sky is blue number {i}.", f"c{i % 2}")
                                  for i in range(n)], "doc_id string, text string, community string")


def seed_task(sampling, per_doc, stage="instructions_r0"):
    return SeedTask(stage, sampling, FilterConfig(), 0, None, prompts_per_doc=per_doc)


def test_cache_sends_only_missing_prompts(spark, tmp_path):
    sampling = Sampling(max_tokens=16)
    prompts = build_prompts(docs(spark, 6), seed_task(sampling, 2), "fake")
    out, stats = generate_cached(spark, prompts.limit(4), SPEC, sampling, str(tmp_path / "cache"), LocalFS(), "s1")
    assert stats.sent == 4 and stats.cached == 0 and out.where(F.col("text").isNull()).count() == 0
    out, stats = generate_cached(spark, prompts, SPEC, sampling, str(tmp_path / "cache"), LocalFS(), "s1")
    assert stats.prompts == 12 and stats.cached == 4 and stats.sent == 8
    assert out.count() == 12 and out.where(F.col("text").isNull()).count() == 0
    _, stats = generate_cached(spark, prompts, SPEC, sampling, str(tmp_path / "cache"), LocalFS(), "s1")
    assert stats.sent == 0 and stats.cached == 12  # a rerun pays nothing
    cache = read_cache(spark, str(tmp_path / "cache"), LocalFS())
    assert cache.count() == cache.select("prompt_hash").distinct().count() == 12


def test_two_jobs_writing_one_cache_at_once_lose_nothing(spark, tmp_path):
    """Two stages (a sweep's points, or two runs with one llm.cache_uri) commit chunks into one cache at the same
    time: every answer of both lands, none is lost to the other's commit, and each commit is a whole folder."""
    sampling, cache_dir = Sampling(max_tokens=16), str(tmp_path / "shared")
    prompts = build_prompts(docs(spark, 10), seed_task(sampling, 2), "fake")  # 20 prompts
    halves = [prompts.where(F.col("doc_id").isin(*[f"doc{i}" for i in ids])) for ids in (range(0, 6), range(4, 10))]
    start, results = threading.Barrier(2), {}

    def run(i):
        start.wait()
        try:
            out, stats = generate_cached(spark, halves[i], SPEC, sampling, cache_dir, LocalFS(), f"w{i}",
                                         commit_every=2)
            results[i] = (out.where(F.col("text").isNotNull()).count(), stats)
        except Exception as exc:  # noqa: BLE001 - reported below, from the test's thread
            results[i] = (str(exc).splitlines()[0], None)

    threads = [threading.Thread(target=run, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results[0][0] == results[1][0] == 12  # each got its answers
    assert results[0][1].sent + results[1][1].sent >= 20
    cache = read_cache(spark, cache_dir, LocalFS())
    assert {r["prompt_hash"] for r in cache.select("prompt_hash").collect()} == \
        {r["prompt_hash"] for r in prompts.select("prompt_hash").collect()}
    commits = [p for p in (tmp_path / "shared").iterdir()]
    assert len(commits) >= 10 and all((p / "_SUCCESS").exists() for p in commits)


def test_a_streaming_engine_answers_out_of_order_under_the_right_keys(spark, tmp_path):
    """Answers that finish in another order than they went in land under their own prompt hash, and the stage
    reports how full the engine ran (the double keeps 5 in flight)."""
    sampling = Sampling(max_tokens=16)
    prompts = build_prompts(docs(spark, 4), seed_task(sampling, 3), "fake")
    blocks, _ = generate_cached(spark, prompts, SPEC, sampling, str(tmp_path / "a"), LocalFS(), "s", batch_size=4)
    streamed, stats = generate_cached(spark, prompts, EngineSpec(kind=STREAMING_FAKE, model="fake"), sampling,
                                      str(tmp_path / "b"), LocalFS(), "s", batch_size=4)
    want = {r["prompt_hash"]: r["text"] for r in blocks.collect()}
    assert {r["prompt_hash"]: r["text"] for r in streamed.collect()} == want and len(want) == 12
    assert stats.occupancy_max == 5 and stats.occupancy_mean == 4.0  # windows of 5, 5 and 2
    assert stats.completion_tokens == sum(len(t.split()) for t in want.values()) and stats.engine_loads == 1


def test_seed_prompts_carry_tags_and_distinct_hashes(spark):
    prompts = build_prompts(docs(spark, 5), seed_task(Sampling(max_tokens=8), 3), "fake").collect()
    assert len(prompts) == 15 and len({p["prompt_hash"] for p in prompts}) == 15
    assert all(p["task_type"] and p["difficulty"] and p["style"] in ("command", "question") for p in prompts)
    assert "text" not in prompts[0].asDict()  # the document is consumed by the prompt, not copied on


def test_the_cache_key_is_the_sampling_the_task_generates_with(spark, tmp_path):
    """One Sampling object keys the prompt and drives the engine: the cached rows are keyed by the same hash,
    and a task with other sampling (one more token) pays for every prompt again."""
    run = LLMRun(spark, SPEC, "fake", str(tmp_path / "cache"), LocalFS())
    task = seed_task(Sampling(max_tokens=12, temperature=0.5, top_p=0.8, seed=3), 2)
    parsed, stats, persisted = run_task(run, task, docs(spark, 3))
    rows = parsed.collect()
    assert stats.sent == 6 and len(rows) == 6
    for r in rows:
        assert r["prompt_hash"] == prompt_hash("fake", task.sampling, json.loads(r["conversation"]))
    cached = {r["prompt_hash"] for r in read_cache(spark, str(tmp_path / "cache"), LocalFS()).collect()}
    assert cached == {r["prompt_hash"] for r in rows}
    for frame in persisted:
        frame.unpersist()
    other = seed_task(Sampling(max_tokens=13, temperature=0.5, top_p=0.8, seed=3), 2)
    _, stats, persisted = run_task(run, other, docs(spark, 3))
    assert (stats.sent, stats.cached) == (6, 0)
    for frame in persisted:
        frame.unpersist()


def test_a_task_row_with_drop_reason_is_refused(spark, tmp_path):
    run = LLMRun(spark, SPEC, "fake", str(tmp_path / "cache"), LocalFS())
    with pytest.raises(ValueError, match="must not carry drop_reason"):
        run_task(run, seed_task(Sampling(max_tokens=4), 1), docs(spark, 2).withColumn("drop_reason", F.lit(None)))


@pytest.mark.parametrize("style, stated", [("fanno", {"style"}), ("compact", {"task_type", "style"})])
def test_augment_prompts_carry_only_the_tags_their_prompt_states(spark, style, stated):
    picks = spark.createDataFrame([(f"doc{i}", ["p1", "p2"], ["Explain tides.", "Why is the sky blue?"]) for i in range(4)],
                                  "doc_id string, fewshot_ids array<string>, fewshot_texts array<string>")
    task = AugmentTask("instructions_r1", Sampling(max_tokens=8), FilterConfig(), 0, None, style, round_no=1)
    rows = build_prompts(docs(spark, 4).join(picks, "doc_id"), task, "fake").collect()
    assert len(rows) == 4
    for r in rows:
        conv = r["conversation"]
        for tag in ("task_type", "difficulty", "style"):
            assert (r[tag] is not None) == (tag in stated), (tag, r[tag])
        assert r["style"] in ("command", "question") and "Explain tides." in conv
        assert r["fewshot_ids"] == ["p1", "p2"] and r["fewshot_texts"] == ["Explain tides.", "Why is the sky blue?"]
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
    task = AugmentTask("instructions_r1", Sampling(max_tokens=8), cfg, 0, None, round_no=1)
    parsed = parse_answers(generated, task)
    filtered = {r["doc_id"]: r for r in instruction_filter.filter_instructions(parsed, pool, cfg, 1).collect()}
    out = {k: r["drop_reason"] for k, r in filtered.items()}
    assert out == {"d1": None, "d2": "duplicate_in_round", "d3": "banned_keyword", "d4": "too_short",
                   "d5": None, "d6": "duplicate_of_pool", "d7": "no_generation", "d8": None,
                   "d9": "refers_to_source", "d10": "not_a_request", "d11": "time_sensitive"}
    assert filtered["d8"]["instruction"] == "Translate the following sentence into French:"
    assert filtered["d8"]["input"] == "The cat sleeps." and filtered["d1"]["input"] == ""


def test_response_prompt_carries_the_input(spark):
    rows = spark.createDataFrame([("Translate the following sentence into French:", "The cat sleeps."),
                                  ("Explain tides.", "")], "instruction string, input string")
    task = responses.ResponseTask("pairs_r0", Sampling(max_tokens=8))
    convs = [json.loads(r["conversation"]) for r in build_prompts(responses.direct_rows(rows), task, "fake")
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
    task = responses.ResponseTask("pairs_r0", Sampling(max_tokens=8), rag=True)
    rows = {r["doc_id"]: r for r in build_prompts(responses.rag_rows(instr, kept, nearest_neighbours(edges)), task,
                                                  "fake").collect()}
    assert "_doc" not in rows["a"].asDict() and "_nb" not in rows["a"].asDict()
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
    cfg = JudgeConfig(min_score=3.0, max_chars=500)
    task = judge.PairJudgeTask.of(cfg, "judged_r0")
    assert task.sampling == Sampling(max_tokens=1, temperature=0.0, top_p=1.0, seed=0, logprobs=cfg.top_logprobs)
    run = LLMRun(spark, SPEC, "fake", str(tmp_path / "cache"), LocalFS())
    judged, stats, _ = run_task(run, task, judge.judge_rows(pairs))
    assert stats.prompts == 16  # only valid pairs are judged
    out = {r["instruction_id"]: r for r in judge.apply_scores(pairs, judged, cfg).collect()}
    assert out["bad"]["drop_reason"] == "truncated" and out["bad"]["judge_score"] is None
    scores = [out[f"i{n}"]["judge_score"] for n in range(16)]
    assert all(1.0 <= s <= 5.0 for s in scores) and len(set(scores)) > 1
    for n in range(16):
        r = out[f"i{n}"]
        assert r["drop_reason"] == ("low_judge_score" if r["judge_score"] < 3.0 else None)
    assert {r["drop_reason"] for r in out.values()} >= {None, "low_judge_score"}
