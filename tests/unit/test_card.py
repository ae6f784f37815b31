"""The dataset card: Hugging Face's own card parser reads it, and its numbers are the run's metrics."""

import yaml
from huggingface_hub import DatasetCard

from fanno_spark.config import load_config
from fanno_spark.publish import card

METRICS = {
    "docs.rows": 400, "docs_kept.rows": 328, "prescreen.dropped.few_sentences": 55,
    "prescreen.dropped.duplicate_5grams": 9, "docs_selected.rows": 48,
    "instructions_r0.rows": 40, "instructions_r0.kept": 18, "instructions_r0.dropped.too_short": 22,
    "instructions_r0.llm_prompts": 40, "instructions_r0.llm_sent": 30, "instructions_r0.llm_cached": 10,
    "instructions_r0.llm_prompt_tokens": 9000, "instructions_r0.llm_completion_tokens": 1500,
    "pairs_r0.rows": 18, "pairs_r0.kept": 15, "pairs_r0.dropped.truncated": 3, "pairs_r0.llm_prompts": 18,
    "instructions_r1.rows": 20, "instructions_r1.kept": 12, "pairs_r1.rows": 12, "pairs_r1.kept": 12,
    "decontaminated.rows": 27, "decontaminated.dropped.contaminated": 2, "decontam.pairs.alpaca_eval": 2,
    "decontam.benchmark.alpaca_eval.prompts": 805, "decontam.benchmark.alpaca_eval.too_short": 3,
    "final.pairs": 25, "final.llm_calls_per_pair": 90 / 25, "pii.documents.email": 7, "pii.generated.phone": 1,
    "report.tag_coverage": 0.24,
}


def _render(overrides=()):
    cfg = load_config("conf/local.yaml", ["decontam.benchmarks=[s3a://b/evals/alpaca_eval.jsonl]", *overrides],
                      check_input=False)
    return cfg, card.render(cfg, METRICS, {"llm.dtype_resolved": "float32"}, run_id="abc123",
                            tracking_uri="sqlite:///x.db", run_dir="s3a://b/run", plots=["lengths.png"],
                            lineage={"input": {"source": "s3a://b/corpus", "digest": "d1", "num_rows": 400}})


def test_card_parses_with_huggingface_hub_and_carries_the_run_numbers():
    cfg, text = _render(["card.license=cc-by-4.0"])
    parsed = DatasetCard(text)
    data = parsed.data.to_dict()
    assert data["license"] == "cc-by-4.0" and data["size_categories"] == ["n<1K"]
    assert data["task_categories"] == ["text-generation"]
    assert data["configs"][0]["data_files"][0]["path"] == "alpaca.json"
    f = data["fanno_spark"]
    assert f["run_id"] == "abc123" and f["pairs"] == 25 and f["rounds"] == 2
    assert f["funnel"]["documents_read"] == 400 and f["funnel"]["documents_kept"] == 328
    assert f["funnel"]["instructions_generated"] == 60 and f["funnel"]["instructions_kept"] == 30
    assert f["funnel"]["pairs_valid"] == 27 and f["funnel"]["pairs_contaminated"] == 2
    assert f["funnel"]["documents_dropped"] == {"duplicate_5grams": 9, "few_sentences": 55}
    assert f["funnel"]["generation_dropped"] == {"instructions.too_short": 22, "pairs.truncated": 3}
    assert f["llm"] == {"prompts": 58, "sent": 30, "cached": 10, "prompt_tokens": 9000, "completion_tokens": 1500}
    assert f["pii_masked"] == {"documents.email": 7, "generated.phone": 1}
    body = parsed.text
    assert "| documents read | 400 |" in body and "| pairs published | 25 |" in body
    assert "| alpaca_eval | 805 | 3 | 2 | not checked |" in body  # named after its file
    assert "![lengths](plots/lengths.png)" in body and "abc123" in body and "3.60 calls per published pair" in body


def test_card_says_when_decontamination_did_not_run():
    cfg = load_config("conf/local.yaml", check_input=False)
    text = card.render(cfg, {"final.pairs": 3}, {}, run_id=None, tracking_uri=None, run_dir="runs/x", plots=[],
                       lineage={})
    assert "has **not** been checked against evaluation sets" in text
    assert yaml.safe_load(text.split("---")[1])["fanno_spark"]["decontamination"] == {}


def test_size_categories_follow_the_hub_buckets():
    assert [card.size_category(n) for n in (0, 999, 1000, 54_321, 2_000_000)] == [
        "n<1K", "n<1K", "1K<n<10K", "10K<n<100K", "1M<n<10M"]
