"""Data report on a small final dataset: real Spark aggregations, real MiniLM, real PNG files."""

import json

import pytest
from PIL import Image

from fanno_spark.config import EmbedConfig, ReportConfig
from fanno_spark.llm.model_store import embedding_model_path
from fanno_spark.report.build import build_report

pytestmark = pytest.mark.spark

COLS = "instruction string, output string, task_type string, difficulty string, style string, round int, " \
       "instruction_id string"


def test_report_plots_and_metrics(spark, tmp_path):
    rows = [
        ("Write a short Python function that reverses a list.", "def rev(x):\n    return x[::-1]",
         "code generation", "creativity", "command", 0, "a"),
        ("Write a Python function that reverses a list.", "Use slicing. " * 50,
         "code generation", "creativity", "command", 0, "b"),
        ("Explain the main differences between lists and tuples.", "Lists are mutable; tuples are not.",
         "closed-book question answering", "critical thinking", "question", 0, "c"),
        ("Translate 'good morning' into French.", "Bonjour.", "translation", "creativity", "command", 1, "d"),
        ("Summarize the causes of the French Revolution.", "Debt, famine and ideas. " * 200,
         "summarization", "multi-step reasoning", "command", 1, "e"),
        ("What is 2+2?", "4", "grade-school math word problem", "multi-step reasoning", "question", 1, "f"),
    ]
    final = spark.createDataFrame(rows, COLS)
    metrics, pngs = build_report(final, tmp_path / "report", ReportConfig(), EmbedConfig(), embedding_model_path())
    assert [p.name for p in pngs] == ["lengths.png", "verb_noun.png", "tag_coverage.png", "diversity.png"]
    for p in pngs:
        with Image.open(p) as im:  # a real, decodable PNG of a sensible size
            assert im.format == "PNG" and im.size[0] > 300 and im.size[1] > 200
    assert metrics["report.verb_noun.coverage"] == pytest.approx(5 / 6)  # "What is 2+2?" has no verb
    assert metrics["report.verb_noun.unique_verbs"] == 4
    assert metrics["report.tag_coverage"] == pytest.approx(5 / 96)  # rows a and b share a combination
    # Round 0 holds two near-paraphrases, so it is less diverse than round 1 on every measure.
    assert metrics["report.r0.mean_cosine"] > metrics["report.r1.mean_cosine"]
    assert metrics["report.r0.distinct_2"] < metrics["report.r1.distinct_2"] <= 1.0
    tables = json.loads((tmp_path / "report" / "report.json").read_text())
    top = tables["verb_noun_top"][0]
    assert (top["verb"], top["noun"], top["count"]) == ("write", "function", 2)
    words = {r["words"]: r["count"] for r in tables["response_words"]}
    assert sum(words.values()) == 6 and words[400] == 1  # the 800-word answer sits in the capped last bin
    assert sum(r["count"] for r in tables["tags"]) == 6
