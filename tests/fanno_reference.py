"""FANNO's own instruction parser and hard filter, as its official code runs them (src/utils/data_utils.py
`instruction_cleaning`, src/evaluator.py `hard_filter`): the reference row beside this project's parser in the
labelled-corpus test. Written from its code, bugs included; not used by the library."""

from __future__ import annotations

import re

KEY_WORDS = ["based on", "according", "given", "mentioned", "refer", "provided", "passage", "text", "paragraph",
             "recent", "current", "now", "today", "yesterday", "tomorrow", "soon", "upcoming", "recently", "coming",
             "currently", "name"]


def instruction_cleaning(text: str) -> tuple[str, str]:
    """Leading / trailing '*', '"' and newlines stripped; split at the first newline (instruction, input)."""
    cleaned = re.sub(r'^[*"\n]+|[*"\n]+$', "", text).strip()
    if "\n" in cleaned:
        first, rest = cleaned.split("\n", 1)
        return first.strip(), rest.strip()
    return cleaned.strip(), ""


def hard_filter_keeps(instruction: str) -> bool:
    if len(instruction) == 0:
        return False
    if not all(ord(c) < 128 for c in instruction):
        return False
    if len(instruction.split()) < 5 and instruction[-1] not in [".", "?"]:
        return False
    if any(re.search(k, instruction, re.IGNORECASE) for k in KEY_WORDS):
        return False
    return sum(1 for c in instruction if c.isalpha()) >= sum(1 for c in instruction if not c.isalpha())


def fanno_verdict(text: str) -> tuple[str, str, bool]:
    instruction, input_text = instruction_cleaning(text)
    return instruction, input_text, hard_filter_keeps(instruction)


def fanno_substring_reason(instruction: str) -> bool:
    """FANNO's keyword test alone (substring, case-insensitive): True where it drops the instruction."""
    return any(re.search(k, instruction, re.IGNORECASE) for k in KEY_WORDS)
