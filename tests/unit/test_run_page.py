"""The MLflow run page: a name from the config, and a description with the funnel from the run's numbers."""

from fanno_spark.config import load_config
from fanno_spark.run_page import description, run_name


def test_run_name_from_the_config_unless_given():
    cfg = load_config("conf/local.yaml", ["llm.temperature=0.7", "augment.rounds=2"])
    name = run_name(cfg, "hdfs://nn:8020/runs/t07")
    assert name.startswith("t07 · ") and "T=0.7" in name and "2 rounds" in name and cfg.respond.mode in name
    assert run_name(load_config("conf/local.yaml", ["tracking.run_name=mine"]), "runs/x") == "mine"


def test_description_has_the_funnel_and_the_llm_spend():
    metrics = {"docs.rows": 1200, "docs_kept.rows": 900, "docs_selected.rows": 48, "pairs_r0.rows": 30,
               "pairs_r0.kept": 20, "pairs_r1.rows": 40, "pairs_r1.kept": 25, "final.pairs": 44,
               "final.llm_calls_per_pair": 4.5, "instructions_r0.llm_prompts": 30, "instructions_r0.llm_cached": 10,
               "instructions_r0.llm_sent": 20, "instructions_r0.llm_prompt_tokens": 3000,
               "instructions_r0.llm_completion_tokens": 1500, "instructions_r0.llm_engine_seconds": 12.0,
               "responses_r0.llm_prompts": 20, "responses_r0.llm_sent": 20, "responses_r0.llm_prompt_tokens": 500}
    text = description(metrics)
    assert "| documents read | 1,200 |" in text and "| round 1: valid pairs | 25 |" in text
    assert "| **pairs in the dataset** | **44** |" in text
    assert "50 prompts (10 from the cache, 40 sent) over 2 stages" in text and "3,500 prompt + 1,500 completion" in text
    assert "4.50 LLM calls per pair" in text
