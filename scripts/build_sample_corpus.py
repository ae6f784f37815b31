"""Build the bundled sample corpus from the Python 3.11 documentation sources.

Run once by a maintainer (the output is committed); it is not part of the job:
    apt-get download python3.11-doc && dpkg -x python3.11-doc_*.deb /tmp/pydoc
    python scripts/build_sample_corpus.py /tmp/pydoc/usr/share/doc/python3.11/html/_sources

The sources are reStructuredText written by people (PSF licence, see data/sample/README.md).
Each document is one section of one page, with the markup reduced to plain prose.
"""

from __future__ import annotations

import gzip
import json
import random
import re
import sys
from pathlib import Path

SECTIONS = ("tutorial", "howto", "faq", "library", "reference", "using", "whatsnew")
UNDERLINE = re.compile(r"^([=\-~^\"'*+#])\1{3,}\s*$")
ROLE = re.compile(r":[a-z:]+:`~?!?([^`<]*?)(?:\s*<[^>]*>)?`")
DIRECTIVE = re.compile(r"^\s*\.\. [\w:-]+::.*$|^\s*\.\. _[^:]+:\s*$|^\s*:[\w-]+:.*$")


def clean(text: str) -> str:
    text = ROLE.sub(r"\1", text)
    text = re.sub(r"``([^`]+)``", r"\1", text)
    text = re.sub(r"`([^`<]+?)\s*<[^>]+>`_+", r"\1", text)
    text = re.sub(r"\*\*([^*]+)\*\*|\*([^*]+)\*", lambda m: m.group(1) or m.group(2), text)
    lines = [ln for ln in text.splitlines() if not DIRECTIVE.match(ln) and not UNDERLINE.match(ln)]
    text = "\n".join(ln.rstrip() for ln in lines)
    text = re.sub(r"::\n", ":\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def split_sections(page: str) -> list[tuple[str, str]]:
    lines = page.splitlines()
    heads = [i - 1 for i in range(1, len(lines)) if UNDERLINE.match(lines[i]) and lines[i - 1].strip()
             and len(lines[i].strip()) >= len(lines[i - 1].strip())]
    out = []
    for n, h in enumerate(heads):
        end = heads[n + 1] if n + 1 < len(heads) else len(lines)
        out.append((lines[h].strip(), "\n".join(lines[h + 2:end])))
    return out


def main(src: Path, dest: Path, n_docs: int = 400, seed: int = 7) -> None:
    docs = []
    for path in sorted(src.rglob("*.rst.txt")):
        rel = path.relative_to(src).as_posix()
        if not rel.startswith(SECTIONS):
            continue
        for title, body in split_sections(path.read_text(encoding="utf-8")):
            text = clean(body)
            words = len(text.split())
            if 120 <= words <= 900 and sum(c.isalpha() for c in text) > 0.6 * len(text):
                page = rel.removesuffix(".rst.txt")
                docs.append({"title": title, "text": f"{title}\n\n{text}",
                             "url": f"https://docs.python.org/3.11/{page}.html"})
    random.Random(seed).shuffle(docs)
    docs = sorted(docs[:n_docs], key=lambda d: d["url"])
    with gzip.open(dest, "wt", encoding="utf-8") as fh:
        for i, d in enumerate(docs):
            fh.write(json.dumps({"id": f"pydoc-{i:04d}", "url": d["url"], "text": d["text"]}) + "\n")
    print(f"wrote {len(docs)} documents to {dest}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2] if len(sys.argv) > 2 else "data/sample/pydocs.jsonl.gz"))
