"""The document judge stage on Spark with the fake engine (the real model runs it in tests/e2e)."""

import pytest
from fanno_doubles import FAKE
from pyspark.sql import functions as F

from fanno_spark.config import DocJudgeConfig, LLMConfig
from fanno_spark.fs import LocalFS
from fanno_spark.llm.stage import LLMRun, build_prompts, run_task
from fanno_spark.llm.types import EngineSpec, Sampling
from fanno_spark.prescreen import doc_judge

pytestmark = pytest.mark.spark
SPEC = EngineSpec(kind=FAKE, model="fake")


def test_judge_scores_decide_and_cache(spark, tmp_path):
    docs = spark.createDataFrame(
        [(f"d{i}", f"Document {i} explains how tides follow the moon, case {i}.", None) for i in range(20)]
        + [("gone", "already rejected by a rule", "too_few_words")],
        "id string, text string, drop_reason string")
    cfg = DocJudgeConfig(min_quality=0.4, max_advertisement=0.6)
    # the run samples at temperature 0.9; the judge reads a distribution, greedily, whatever the run says
    task = doc_judge.DocJudgeTask.of(cfg, "docs_judged", LLMConfig(temperature=0.9), None)
    assert task.sampling == Sampling.greedy(1, cfg.top_logprobs) and task.sampling.temperature == 0.0
    alive = docs.where(F.col("drop_reason").isNull()).select("id", "text")
    prompts = build_prompts(alive, task, "fake")
    assert prompts.count() == 40 and prompts.select("prompt_hash").distinct().count() == 40
    run = LLMRun(spark, SPEC, "fake", str(tmp_path / "cache"), LocalFS())
    judged, stats, _ = run_task(run, task, alive)
    assert stats.sent == 40
    out = {r["id"]: r for r in doc_judge.decide(docs, doc_judge.judge_scores(judged), cfg).collect()}
    assert out["gone"]["drop_reason"] == "too_few_words" and out["gone"]["judge_quality"] is None
    for i in range(20):
        r = out[f"d{i}"]
        q, ad = r["judge_quality"], r["judge_ad"]
        assert 0 < q < 1 and 0 < ad < 1
        want = "llm_low_quality" if q < 0.4 else "llm_advertisement" if ad >= 0.6 else None
        assert r["drop_reason"] == want
    reasons = {r["drop_reason"] for r in out.values()}
    assert {"llm_low_quality", None} <= reasons  # the fake's spread exercises both sides
    _, stats, _ = run_task(run, task, alive)
    assert stats.sent == 0 and stats.cached == 40
