"""The cost ledger from the stages' LLM numbers: totals, what this run paid, money, per accepted pair."""

import pytest

from fanno_spark.config import load_config
from fanno_spark.publish.ledger import ledger, table

METRICS = {
    "instructions_r0.llm_prompts": 40, "instructions_r0.llm_cached": 10, "instructions_r0.llm_sent": 30,
    "instructions_r0.llm_failed": 2, "instructions_r0.llm_prompt_tokens": 4000,
    "instructions_r0.llm_completion_tokens": 1000, "instructions_r0.llm_engine_seconds": 720,
    "pairs_r0.llm_prompts": 20, "pairs_r0.llm_cached": 0, "pairs_r0.llm_sent": 20, "pairs_r0.llm_retried": 3,
    "pairs_r0.llm_prompt_tokens": 1000, "pairs_r0.llm_completion_tokens": 3000, "pairs_r0.llm_engine_seconds": 1080,
    "final.pairs": 10,
}


def test_total_counts_every_stage_and_paid_only_what_this_run_computed():
    cfg = load_config("conf/local.yaml", ["cost.cpu_hour_usd=2.0"], check_input=False)
    out = ledger(METRICS, cfg, computed={"pairs_r0"})
    assert out["cost.total.sent"] == 50 and out["cost.paid.sent"] == 20
    assert out["cost.total.failed"] == 2 and out["cost.total.retried"] == 3
    assert out["cost.total.engine_hours"] == pytest.approx(0.5)
    assert out["cost.total.usd"] == pytest.approx(1.0) and out["cost.paid.usd"] == pytest.approx(0.6)
    assert out["cost.total.gpu_hours"] == 0  # CPU engines
    assert out["cost.per_pair.usd"] == pytest.approx(0.1)
    assert out["cost.per_pair.tokens"] == pytest.approx(900)


def test_an_endpoint_is_billed_per_token():
    cfg = load_config("conf/local.yaml", ["llm.engine=openai", "llm.base_url=http://127.0.0.1:1/v1",
                                          "cost.per_million_tokens=10", "cost.cpu_hour_usd=99"], check_input=False)
    out = ledger(METRICS, cfg, computed={"instructions_r0", "pairs_r0"})
    assert out["instructions_r0.cost_usd"] == pytest.approx(0.05)
    assert out["cost.total.usd"] == pytest.approx(0.09)


def test_the_cards_table_has_a_row_per_llm_stage_and_the_total():
    cfg = load_config("conf/local.yaml", check_input=False)
    rows = table({**METRICS, **ledger(METRICS, cfg, set())})
    assert [r["stage"] for r in rows] == ["instructions_r0", "pairs_r0", "**total**"]
    assert rows[-1]["sent"] == 50 and rows[0]["failed"] == 2
