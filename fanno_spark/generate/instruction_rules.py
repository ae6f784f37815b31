"""FANNO's hard filter for generated instructions, its bugs fixed, plus a rule for text that is no
request at all. Pure functions: one reason per instruction (None = kept), each a counted drop_reason.

FANNO (src/evaluator.py, hard_filter) drops: empty; non-ASCII; < 5 words without a final '.' or '?';
any of its keywords found by substring search; fewer letters than non-letters. Fixed here:
- keywords match whole words (with their inflections), so `now` no longer hits `known`, `name` no
  longer hits `filename`, `text` no longer hits `context`, `refer` still hits `referring`;
- the letter ratio ignores whitespace (FANNO counted every space as a non-letter, so ordinary
  sentences of short words were dropped);
- the ASCII rule is a switch (`filter.ascii_only`), off for corpora in other languages.
"""

from __future__ import annotations

import re
from functools import cache

from ..report.verbs import LEAD, verbs

# FANNO's keywords, grouped by why they disqualify an instruction.
SOURCE_WORDS = ("based on", "according", "given", "mentioned", "refer", "provided", "passage", "text", "paragraph")
TIME_WORDS = ("recent", "current", "now", "today", "yesterday", "tomorrow", "soon", "upcoming", "recently",
              "coming", "currently")
NAME_WORDS = ("name",)
# Inflections FANNO's substring search caught on purpose ("referring", "mentions", "passages").
_FORMS = {
    "according": "according(?:ly)?", "mentioned": "mention(?:s|ed|ing)?", "refer": "refer(?:s|red|ring|ence|ences)?",
    "passage": "passages?", "text": "texts?", "paragraph": "paragraphs?", "name": "names?",
}

REQUEST_OPENERS = frozenset("""what which how why when where who whom whose can could would should will do does did is
are was were has have had may might shall am""".split())
NOT_A_REQUEST = re.compile(
    r"^(?:i'?m|i am|i'?d|i would|i will|i can|sure\b|certainly|of course|okay|ok\b|hello|hi\b|here is|here's|"
    r"this is|that is|it is|these are|the answer|answer\b|response\b|thank)"
    r"|\b(?:your task(?! is to)|how can i (?:help|assist)|happy to help|ready to help|let me know)\b", re.IGNORECASE)
TASK_FRAME = re.compile(r"^(?:your|the) task is to ([a-z]+)\b", re.IGNORECASE)  # "Your task is to write ..."


@cache
def _keyword_regex(words: tuple[str, ...]) -> re.Pattern:
    alts = "|".join(_FORMS.get(w, re.escape(w)).replace(r"\ ", r"\s+") for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"\b(?:{alts})\b", re.IGNORECASE)


def keyword_hit(instruction: str, words: tuple[str, ...]) -> str | None:
    m = _keyword_regex(tuple(words)).search(instruction)
    return m.group(0) if m else None


def letters_below_half(instruction: str) -> bool:
    """Fewer letters than other visible characters (whitespace not counted: FANNO counted it)."""
    visible = [c for c in instruction if not c.isspace()]
    letters = sum(c.isalpha() for c in visible)
    return letters < len(visible) - letters


def is_request(instruction: str) -> bool:
    """A question or an imperative, decided without a parser (none ships offline): it asks (ends with
    '?' or opens with a wh-word / auxiliary) or opens, after "please" and the like, with a base-form
    verb from the instruction-verb lexicon; greetings, statements about itself and answer stubs
    ("I'm ready to help.", "This is a question that ...", "The answer to this question is:") are not."""
    text = instruction.strip().strip("\"'“”*` ")
    frame = TASK_FRAME.match(text)
    if frame:
        return frame.group(1).lower() in verbs()
    if not text or NOT_A_REQUEST.search(text):
        return False
    words = re.findall(r"[a-z][a-z'-]*", text.lower())
    if text.rstrip().endswith("?"):
        return True
    for w in words[:4]:
        if w in LEAD:
            continue
        return w in REQUEST_OPENERS or w in verbs()
    return False


def hard_filter_reason(instruction: str, ascii_only: bool = True, has_input: bool = False,
                       require_request: bool = True) -> str | None:
    """The first FANNO rule (bugs fixed) the instruction breaks, or None. With an `input` kept below the
    instruction, pointing at it ("Translate the following text:") is not a reference to an unseen source."""
    text = instruction.strip()
    if not text:
        return "empty"
    if ascii_only and not text.isascii():
        return "non_ascii"
    if len(text.split()) < 5 and text[-1] not in ".?":
        return "short_unterminated"
    if not has_input and keyword_hit(text, SOURCE_WORDS):
        return "refers_to_source"
    if keyword_hit(text, TIME_WORDS):
        return "time_sensitive"
    if keyword_hit(text, NAME_WORDS):
        return "asks_for_name"
    if letters_below_half(text):
        return "few_letters"
    if require_request and not is_request(text):
        return "not_a_request"
    return None


def fanno_substring_reason(instruction: str) -> bool:
    """FANNO's original keyword test (substring, case-insensitive): kept for regression tests and the
    report's comparison only."""
    return any(re.search(k, instruction, re.IGNORECASE) for k in (*SOURCE_WORDS, *TIME_WORDS, *NAME_WORDS))
