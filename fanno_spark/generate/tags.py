"""FANNO's tag pool: 12 task types x 4 difficulty traits x 2 styles, sampled per document."""

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
TAG_POOL = tuple((t, d, s) for t in TASK_TYPES for d in DIFFICULTY for s in STYLES)


def _rng(doc_id: str, seed: int, salt: str = "") -> random.Random:
    digest = hashlib.sha256(f"{seed}:{salt}:{doc_id}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def sample_tags(doc_id: str, n: int, seed: int, salt: str = "") -> list[dict[str, str]]:
    """n distinct tag combinations for a document; deterministic in (doc_id, seed, salt)."""
    picks = _rng(doc_id, seed, salt).sample(TAG_POOL, min(n, len(TAG_POOL)))
    return [{"task_type": t, "difficulty": d, "style": s} for t, d, s in picks]
