"""The labelled corpus (tests/data/instruction_outputs.jsonl): instruction outputs as models write them, across
FANNO's 12 task types and both styles, with and without input, single- and multi-line, and junk, each with its
expected verdict, instruction and input. The parser and rules keep what a person would keep and reject the junk;
FANNO's own parser and hard filter are scored beside them."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from fanno_reference import fanno_verdict

from fanno_spark.config import FilterConfig
from fanno_spark.generate.instruction_filter import instruction_verdict

CORPUS = Path(__file__).parent.parent / "data" / "instruction_outputs.jsonl"


@pytest.fixture(scope="module")
def corpus() -> list[dict]:
    return [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()]


def score(rows: list[dict], verdict) -> dict:
    """keep: valid outputs kept; exact: kept with the expected instruction and input; reject: junk dropped."""
    valid = [r for r in rows if r["verdict"] == "keep"]
    junk = [r for r in rows if r["verdict"] == "drop"]
    kept = exact = 0
    for r in valid:
        instruction, input_text, ok = verdict(r)
        kept += ok
        exact += ok and instruction == r["instruction"] and (input_text or "") == r["input"]
    rejected = sum(not verdict(r)[2] for r in junk)
    with_input = [r for r in valid if r["input"]]
    input_right = sum(1 for r in with_input if (v := verdict(r))[2] and (v[1] or "") == r["input"])
    return {"keep": kept / len(valid), "exact": exact / len(valid), "reject": rejected / len(junk),
            "input": input_right / len(with_input)}


def ours(cfg: FilterConfig):
    def run(r: dict) -> tuple[str | None, str | None, bool]:
        instruction, input_text, reason = instruction_verdict(r["text"], r["finish_reason"], r["avoid"], cfg)
        return instruction, input_text, reason is None
    return run


def test_corpus_covers_what_it_claims(corpus):
    valid = [r for r in corpus if r["verdict"] == "keep"]
    assert len(corpus) >= 300
    assert len({r["task_type"] for r in valid}) == 12 and {r["style"] for r in valid} == {"command", "question"}
    assert sum(bool(r["input"]) for r in valid) >= 30 and sum("\n" in r["instruction"] for r in valid) >= 3
    junk_kinds = Counter(r["kind"] for r in corpus if r["verdict"] == "drop")
    assert {"chatter", "answer_stub", "truncated", "placeholder", "template_echo", "unseen_source",
            "time_sensitive"} <= set(junk_kinds)


def test_parser_and_rules_keep_valid_and_reject_junk_beside_fanno(corpus):
    mine = score(corpus, ours(FilterConfig()))
    fanno = score(corpus, lambda r: fanno_verdict(r["text"]))
    table = ["", "| parser + rules | valid kept | kept exactly (instruction, input) | inputs right | junk rejected |",
             "|---|---|---|---|---|"]
    for name, s in (("fanno-spark", mine), ("FANNO (instruction_cleaning + hard_filter)", fanno)):
        table.append(f"| {name} | {s['keep']:.1%} | {s['exact']:.1%} | {s['input']:.1%} | {s['reject']:.1%} |")
    print("\n".join(table))
    assert mine["keep"] >= 0.97 and mine["reject"] >= 0.95, mine
    assert mine["exact"] >= 0.95 and mine["input"] >= 0.95, mine


def test_each_junk_output_gets_a_reason_and_none_crashes(corpus):
    cfg = FilterConfig()
    reasons = Counter(instruction_verdict(r["text"], r["finish_reason"], r["avoid"], cfg)[2]
                      for r in corpus if r["verdict"] == "drop")
    # the junk spreads over the rules; no single catch-all does the work
    assert reasons["not_a_request"] < sum(reasons.values()) / 2, reasons
    assert {"placeholder", "template_leak", "refusal", "time_sensitive", "refers_to_source", "truncated"} <= set(reasons)
