"""WARC / WET records -> documents, run inside mapInPandas (one task streams whole files).

HTML responses go through trafilatura (boilerplate removal made for web pages); WET `conversion`
records are already text. A truncated or corrupt file yields the records read so far plus one
reject row saying where it broke, so a bad file costs its tail, never the job.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pandas as pd
from pyspark.sql import types as T

from ..fs import open_input

WARC_SCHEMA = T.StructType([
    T.StructField(name, T.StringType()) for name in ("id", "url", "text", "source", "read_error", "raw")
])
WARC_SUFFIXES = (".warc", ".warc.gz", ".wet", ".wet.gz", ".arc.gz")
_BATCH = 256  # rows per Arrow batch, so a large WARC never sits whole in a worker's memory


def _html_to_text(body: bytes, url: str | None) -> str | None:
    import trafilatura

    return trafilatura.extract(body, url=url, include_comments=False, include_tables=True, deduplicate=False)


def _record_row(rec, path: str, max_chars: int) -> dict | None:
    headers = rec.rec_headers
    rtype = rec.rec_type
    if rtype not in ("response", "conversion", "resource"):
        return None  # request / metadata / warcinfo records carry no document
    url = headers.get_header("WARC-Target-URI")
    rid = headers.get_header("WARC-Record-ID") or f"{path}#{url}"
    row = {"id": rid.strip("<>"), "url": url, "text": None, "source": path, "read_error": None, "raw": None}
    body = rec.content_stream().read(max_chars * 4 + 1)  # bounded: a huge record can't exhaust memory
    if len(body) > max_chars * 4:
        row["read_error"] = "too_large"
        return row
    rec.raw_stream.read()  # drain: a record cut short leaves part of its Content-Length unread
    if getattr(rec.raw_stream, "limit", 0) > 0:
        row["read_error"] = "truncated_record"
        return row
    if rtype == "conversion" or not _is_html(rec):
        if rtype == "response" and not _is_text(rec):
            return None  # images, PDFs and other binaries are not documents
        row["text"] = body.decode("utf-8", errors="replace")
        return row
    try:
        row["text"] = _html_to_text(body, url)
    except Exception as exc:  # noqa: BLE001 - a page trafilatura chokes on is a reject, not a crash
        row["read_error"] = "html_extract_failed"
        row["raw"] = f"{type(exc).__name__}: {exc}"[:500]
        return row
    if not row["text"]:
        row["read_error"] = "no_extractable_text"
    return row


def _content_type(rec) -> str:
    if rec.http_headers is not None:
        return (rec.http_headers.get_header("Content-Type") or "").lower()
    return (rec.rec_headers.get_header("Content-Type") or "").lower()


def _is_html(rec) -> bool:
    return "html" in _content_type(rec)


def _is_text(rec) -> bool:
    ctype = _content_type(rec)
    return ctype.startswith("text/") or "json" in ctype or "xml" in ctype


def _gzip_intact(path: str) -> str | None:
    """warcio reads a cut gzip member silently; a streaming pass finds the missing end marker."""
    import gzip
    import zlib

    try:
        with open_input(path) as fh, gzip.GzipFile(fileobj=fh) as gz:
            while gz.read(1 << 20):
                pass
    except (EOFError, OSError, zlib.error) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def iter_warc(path: str, max_chars: int) -> Iterator[dict]:
    from warcio.archiveiterator import ArchiveIterator

    n = 0
    problem = None
    try:
        with open_input(path) as fh:
            for rec in ArchiveIterator(fh, arc2warc=True):
                row = _record_row(rec, path, max_chars)
                n += 1
                if row is not None:
                    yield row
    except Exception as exc:  # noqa: BLE001 - bad headers, broken members: count it and move on
        problem = f"{type(exc).__name__}: {exc}"
    if problem is None and path.endswith(".gz"):
        problem = _gzip_intact(path)
    if problem is not None:
        yield {"id": f"{path}#broken-after-{n}", "url": None, "text": None, "source": path,
               "read_error": "truncated_warc", "raw": problem[:500]}


def read_warc_files(max_chars: int) -> Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]:
    def _map(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            for path in batch["path"]:
                rows: list[dict] = []
                for row in iter_warc(path, max_chars):
                    rows.append(row)
                    if len(rows) >= _BATCH:
                        yield pd.DataFrame(rows, columns=WARC_SCHEMA.names)
                        rows = []
                if rows:
                    yield pd.DataFrame(rows, columns=WARC_SCHEMA.names)
    return _map
