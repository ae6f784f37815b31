"""The prompt templates (package resources) and their loader, below every stage that builds a prompt."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

DOC_CLOSE = re.compile(r"<\s*/?\s*document\b[^>]*>", re.IGNORECASE)  # also "< /document>", attributes


@cache
def template(name: str) -> str:
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8").strip()


def delimit(document: str | None) -> str:
    """Neutralise tags so document text can never close the template (its length: prompts/doc_budget.py)."""
    return DOC_CLOSE.sub("[document-tag]", document or "")
