"""A real-text benchmark corpus, built offline from the docstrings of the installed Python code.

Docstrings are prose written by people (stdlib first, then site-packages), with the uneven quality
a crawl has: long explanations, one-liners, parameter tables, repeated boilerplate. Built once into
bench/.cache (git-ignored), never committed. Files are parsed with `ast`, never imported.
"""

from __future__ import annotations

import ast
import gzip
import json
import random
import sys
import sysconfig
from pathlib import Path

CACHE = Path(__file__).parent / ".cache"


def _docstrings(path: Path, min_words: int):
    try:
        tree = ast.parse(path.read_bytes())
    except (SyntaxError, ValueError, UnicodeDecodeError, RecursionError):
        return
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node)
            if doc and len(doc.split()) >= min_words:
                yield getattr(node, "name", "<module>"), doc


def build(n_docs: int = 25_000, shards: int = 2, min_words: int = 20) -> Path:
    """Write n_docs documents as `shards` gzipped JSONL files (one per datatrove task); return the folder."""
    out = CACHE / f"docstrings-{n_docs}"
    if (out / "_DONE").exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    roots = [Path(sysconfig.get_paths()["stdlib"]), Path(sysconfig.get_paths()["purelib"])]
    docs = []
    seen = set()
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            for name, doc in _docstrings(path, min_words):
                rel = f"{path.relative_to(root)}::{name}"
                if rel in seen:
                    continue
                seen.add(rel)
                docs.append({"id": f"d{len(docs):06d}", "url": f"py://{rel}", "text": doc})
                if len(docs) >= n_docs:
                    break
            if len(docs) >= n_docs:
                break
        if len(docs) >= n_docs:
            break
    if len(docs) < n_docs:
        sys.exit(f"only {len(docs)} docstrings found, {n_docs} asked")
    for s in range(shards):
        with gzip.open(out / f"part-{s}.jsonl.gz", "wt") as fh:
            for d in docs[s::shards]:
                fh.write(json.dumps(d) + "\n")
    (out / "_DONE").write_text(str(len(docs)))
    return out


def _all_docstrings(min_words: int = 5):
    roots = [Path(sysconfig.get_paths()["stdlib"]), Path(sysconfig.get_paths()["purelib"])]
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            yield path.relative_to(root), [doc for _, doc in _docstrings(path, min_words)]


def pages(n_pages: int, min_chars: int = 2000, max_chars: int = 8000, seed: int = 0) -> list[dict]:
    """Full-length pages of real prose. First the docstrings of one source file joined in file order (as a
    module's documentation page reads), cut into pages of min_chars..max_chars characters; when those run out
    (~20k pages here), windows of the same docstrings: consecutive docstrings from a random starting point
    in the stream of all files, so the text stays real while the pages differ."""
    out: list[dict] = []
    stream: list[str] = []
    for rel, docs in _all_docstrings():
        stream += docs
        page: list[str] = []
        size = 0
        for doc in docs:
            page.append(doc)
            size += len(doc) + 2
            if size >= min_chars:
                out.append({"id": f"p{len(out):07d}", "url": f"py://{rel}#{len(out)}",
                            "text": "\n\n".join(page)[:max_chars]})
                page, size = [], 0
                if len(out) >= n_pages:
                    return out
    rng = random.Random(seed)
    while len(out) < n_pages:
        start = rng.randrange(len(stream))
        page, size, i = [], 0, start
        while size < min_chars and i < len(stream):
            page.append(stream[i])
            size += len(stream[i]) + 2
            i += 1
        if size >= min_chars:
            out.append({"id": f"p{len(out):07d}", "url": f"py://window/{start}#{len(out)}",
                        "text": "\n\n".join(page)[:max_chars]})
    return out


if __name__ == "__main__":
    print(build(int(sys.argv[1]) if len(sys.argv) > 1 else 25_000))
