"""FANNO's tag pool: 12 task types x 4 difficulty traits x 2 styles (96 combinations), with the
definition sentence of each tag that FANNO's seed prompt states (worded here in this project's words)."""

from __future__ import annotations

import hashlib
import random

TASK_TYPES = (
    "natural language inference", "commonsense reasoning", "sentiment analysis", "paraphrasing",
    "closed-book question answering", "structure to text", "summarization", "translation",
    "implicit reasoning", "text categorization", "code generation", "grade-school math word problem",
)
DIFFICULTY = ("multi-step reasoning", "critical thinking", "creativity", "interdisciplinary knowledge")
STYLES = ("command", "question")

# What each tag asks of the instruction; the seed prompt states these as its numbered criteria.
TASK_DEFINITIONS = {
    "natural language inference": "It is a natural language inference task: judging whether evidence supports a "
                                  "conclusion.",
    "commonsense reasoning": "It is a commonsense question: predicting an outcome from everyday knowledge.",
    "sentiment analysis": "It is a sentiment analysis task: determining the emotional response to a scenario.",
    "paraphrasing": "It is a paraphrasing task: rewording a statement while keeping its meaning.",
    "closed-book question answering": "It is a closed-book question: a factual query answered from general "
                                      "knowledge.",
    "structure to text": "It is a structure-to-text task: describing a process or concept in written form.",
    "summarization": "It is a summarization task: condensing the key information of a longer text.",
    "translation": "It is a translation task: converting a text from one language into another.",
    "implicit reasoning": "It is an implicit reasoning question: inferring the reasons behind common behaviour.",
    "text categorization": "It is a text categorization task: identifying what defines a given type of text.",
    "code generation": "It is a code generation task: an easy, LeetCode-style programming problem.",
    "grade-school math word problem": "It is a grade-school math word problem (GSM8K style) that needs "
                                      "elementary arithmetic to solve.",
}
DIFFICULTY_DEFINITIONS = {
    "multi-step reasoning": "It is complex and needs several steps of reasoning to solve.",
    "critical thinking": "It calls for critical thinking: analysing from several perspectives and weighing "
                         "more than one solution.",
    "creativity": "It calls for creative thinking and solutions beyond the conventional.",
    "interdisciplinary knowledge": "It needs knowledge from several disciplines brought together.",
}
STYLE_DEFINITIONS = {  # seed prompt: each style with examples
    "command": "It is phrased as a command or imperative, for example 'Write a paragraph about ...' or "
               "'Describe the ...'.",
    "question": "It is phrased as a question, for example 'What is the ...?' or 'How do you ...?'.",
}
AUGMENT_STYLE_RULES = {  # augmentation prompt: the style line of "My query should"
    "command": "Be in the style of a command or imperative; do not use who, what, when, where, why or how.",
    "question": "Be in the style of a question or interrogative.",
}
TAG_POOL = tuple((t, d, s) for t in TASK_TYPES for d in DIFFICULTY for s in STYLES)


def _rng(doc_id: str, seed: int, salt: str = "") -> random.Random:
    digest = hashlib.sha256(f"{seed}:{salt}:{doc_id}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def sample_tags(doc_id: str, n: int, seed: int, salt: str = "") -> list[dict[str, str]]:
    """n distinct tag combinations for a document; deterministic in (doc_id, seed, salt)."""
    picks = _rng(doc_id, seed, salt).sample(TAG_POOL, min(n, len(TAG_POOL)))
    return [{"task_type": t, "difficulty": d, "style": s} for t, d, s in picks]
