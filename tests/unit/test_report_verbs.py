"""Verb–noun extraction for the data report (lexicon heuristic; unmatched -> None, never a guess)."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fanno_spark.text.verbs import verb_noun, verbs


@pytest.mark.parametrize("text, expected", [
    ("Write a short Python function that adds two numbers.", ("write", "function")),
    ("Please explain the main differences between lists and tuples.", ("explain", "difference")),
    ("How can I sort a dict by value?", ("sort", "dict")),
    ("Classify the following sentences into positive or negative.", ("classify", "sentence")),
    ("Summarize these paragraphs.", ("summarize", "paragraph")),
    ("Identify the stories in the text", ("identify", "story")),
])
def test_root_verb_and_head_noun(text, expected):
    assert verb_noun(text) == expected


@pytest.mark.parametrize("text", ["What is 2+2?", "Write it.", "", None, "!!! ### 123", "The cat sat on the mat."])
def test_no_match_is_none(text):
    assert verb_noun(text) is None


def test_lexicon_loads_from_package_resource():
    assert {"write", "explain", "classify", "translate"} <= verbs() and "the" not in verbs()


@given(st.text(max_size=300))
def test_never_raises_and_returns_lexicon_verbs(text):
    out = verb_noun(text)
    assert out is None or (out[0] in verbs() and re.fullmatch(r"[a-z][a-z'-]*", out[1]) is not None)
