"""Prompt builders (templates are package resources) and pure parsers for LLM output."""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from string import Template

from pyspark.sql import types as T

# What a parser UDF returns per row: the parsed value, or null and the reason it was rejected.
PARSED = T.StructType([T.StructField("value", T.StringType()), T.StructField("reason", T.StringType())])

STYLE_HINTS = {"command": "an imperative command (e.g. 'Explain ...')", "question": "a direct question"}
DOC_CLOSE = re.compile(r"<\s*/?\s*document\b[^>]*>", re.IGNORECASE)  # also "< /document>", attributes


@cache
def template(name: str) -> str:
    return resources.files("fanno_spark.prompts").joinpath(name).read_text(encoding="utf-8").strip()


LEAK_NGRAM = 5


@cache
def template_ngrams() -> frozenset[tuple[str, ...]]:
    """Word 5-grams of every prompt template and system prompt (placeholders cut out): generated text
    that repeats one of them is echoing our instructions, not producing data."""
    grams: set[tuple[str, ...]] = set()
    for f in resources.files("fanno_spark.prompts").iterdir():
        if f.name.endswith(".txt"):
            for piece in re.split(r"\$\w+", f.read_text(encoding="utf-8")):
                words = _norm(piece).split()
                grams.update(zip(*(words[i:] for i in range(LEAK_NGRAM)), strict=False))
    return frozenset(grams)


def echoes_template(text: str) -> bool:
    words = _norm(text).split()
    grams = template_ngrams()
    return any(g in grams for g in zip(*(words[i:] for i in range(LEAK_NGRAM)), strict=False))


def delimit(document: str, max_chars: int) -> str:
    """Cut to max_chars and neutralise tags so document text can never close the template."""
    return DOC_CLOSE.sub("[document-tag]", (document or "")[:max_chars])


def seed_conversation(document: str, tags: dict[str, str], max_chars: int) -> str:
    user = Template(template("seed_user.txt"))
    example = user.substitute(document=template("seed_example_document.txt"),
                              task_type="closed-book question answering", difficulty="critical thinking",
                              style_hint=STYLE_HINTS["question"])
    conv = [
        {"role": "system", "content": template("system.txt")},
        {"role": "user", "content": example},
        {"role": "assistant", "content": template("seed_example_answer.txt")},
        {"role": "user", "content": user.substitute(document=delimit(document, max_chars),
                                                    task_type=tags["task_type"], difficulty=tags["difficulty"],
                                                    style_hint=STYLE_HINTS[tags["style"]])},
    ]
    return json.dumps(conv, ensure_ascii=False)


def augment_conversation(document: str, examples: list[str], tags: dict[str, str], max_chars: int) -> str:
    shots = "\n".join(f"{i + 1}. {e}" for i, e in enumerate(examples))
    user = Template(template("augment_user.txt")).substitute(
        document=delimit(document, max_chars), examples=shots, task_type=tags["task_type"],
        style_hint=STYLE_HINTS[tags["style"]])
    conv = [{"role": "system", "content": template("system.txt")}, {"role": "user", "content": user}]
    return json.dumps(conv, ensure_ascii=False)


def respond_conversation(instruction: str) -> str:
    conv = [{"role": "system", "content": template("respond_system.txt")},
            {"role": "user", "content": instruction}]
    return json.dumps(conv, ensure_ascii=False)


def respond_rag_conversation(instruction: str, document: str | None, neighbour: str | None, max_chars: int) -> str:
    """RAG mode: the instruction's own document plus its nearest neighbour (when it has one), delimited."""
    docs = "\n".join(f"<document>\n{delimit(d, max_chars)}\n</document>" for d in (document, neighbour) if d)
    user = Template(template("respond_rag_user.txt")).substitute(documents=docs, instruction=instruction)
    conv = [{"role": "system", "content": template("respond_system.txt")}, {"role": "user", "content": user}]
    return json.dumps(conv, ensure_ascii=False)


LABEL = re.compile(r"^\s*(?:\*\*)?\s*(?:new\s+)?(?:instruction|question|task|command|prompt|q)"
                   r"\s*\d*\s*[:.)-]\s*(?:\*\*)?\s*", re.IGNORECASE)
LIST_MARK = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s+")
LEAK = re.compile(r"<\s*/?\s*document\s*>|\[document-tag\]|^\s*(task type|style|difficulty):|write one (new )?instruction|"
                  r"think different|example instructions written", re.IGNORECASE | re.MULTILINE)
DOC_LEAK = re.compile(r"<\s*/?\s*document\s*>|\[document-tag\]", re.IGNORECASE)  # for responses
REFUSAL = re.compile(r"^\s*(i'm sorry|i am sorry|sorry,|i cannot|i can't|as an ai\b)", re.IGNORECASE)


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def _words(text: str) -> set[str]:
    return set(_norm(text).split())


def _near_copy(candidate: str, avoided: list[set[str]], threshold: float = 0.7) -> bool:
    """Word-set Jaccard against the few-shot examples: a reworded copy is still a copy."""
    words = _words(candidate)
    return any(words and a and len(words & a) / len(words | a) >= threshold for a in avoided)


def parse_instruction(text: str | None, avoid: list[str] | tuple[str, ...] = (), min_words: int = 1
                      ) -> tuple[str | None, str | None]:
    """LLM text -> (instruction, None) or (None, reason).

    Small models wrap the instruction in labels, quotes, numbered lists and chatter, and often
    repeat the few-shot examples first: take the first line that is a plausible instruction of at
    least `min_words` words and is not (nearly) one of `avoid`. When only shorter lines exist, the
    first of them is returned, so the length rule downstream rejects it with its own reason.
    """
    if text is None or not text.strip():
        return None, "empty"
    avoided = {_norm(a) for a in avoid}
    avoided_words = [set(a.split()) for a in avoided]
    copied = leaked = False
    short: str | None = None
    for line in text.strip().splitlines():
        if LEAK.search(line) or echoes_template(line):  # a template line echoed back: skip it, never keep it
            leaked = True
            continue
        candidate = LIST_MARK.sub("", LABEL.sub("", line.strip())).strip()
        candidate = LIST_MARK.sub("", LABEL.sub("", candidate.lstrip("#> ").strip())).strip("\"'“”*` ").strip()
        if not re.search(r"[A-Za-z]{2}", candidate):
            continue
        if _norm(candidate) in avoided or _near_copy(candidate, avoided_words):
            copied = True
            continue
        if REFUSAL.match(candidate):
            return None, "refusal"
        if len(candidate.split()) < min_words:
            short = short or candidate
            continue
        return candidate, None
    if short is not None:
        return short, None
    return None, "template_leak" if leaked else "copied_example" if copied else "empty"


def parse_response(text: str | None, finish_reason: str | None) -> tuple[str | None, str | None]:
    if text is None or not text.strip():
        return None, "empty_response"
    if finish_reason == "length":
        return None, "truncated"
    if REFUSAL.match(text):
        return None, "refusal"
    if DOC_LEAK.search(text) or echoes_template(text):
        return None, "template_leak"
    return text.strip(), None


def banned_pattern(words: tuple[str, ...]) -> str:
    """Case-insensitive whole-word regex (Java and Python agree): 'know' never matches 'now'."""
    alts = "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in sorted(words, key=len, reverse=True))
    return rf"(?i)\b(?:{alts})\b"
