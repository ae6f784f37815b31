"""Secrets out of everything the job prints or records: credentials inside URLs and strings shaped like
well-known API keys/tokens are masked in config errors, log lines, MLflow params and the tracking URI."""

from __future__ import annotations

import logging
import re

URL_CREDENTIALS = re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/\s@]+@", re.IGNORECASE)
TOKEN_LIKE = re.compile(
    r"\b(?:sk-[A-Za-z0-9_-]{12,}|hf_[A-Za-z0-9]{16,}|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"
    r"|xox[abprs]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16}|dapi[0-9a-f]{32}|eyJ[A-Za-z0-9_-]{20,}\.[A-Za-z0-9._-]+)")


def redact(text: str) -> str:
    return TOKEN_LIKE.sub("***", URL_CREDENTIALS.sub(r"\1***@", text))


class RedactingFilter(logging.Filter):
    """Attach to a handler: every record it emits is redacted after formatting its arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        clean = redact(msg)
        if clean != msg:
            record.msg, record.args = clean, None
        return True
