"""P1 like for like: fanno-spark's heuristics and datatrove's Gopher repetition, Gopher quality and C4
filters with the same thresholds, on the same full-length pages; exact dedup left out of both.

Speed: each side reads the same gzipped JSONL and writes its decisions (datatrove: its LocalPipelineExecutor,
2 tasks / 2 workers, kept documents to JSONL; fanno-spark: local[2], every document with its drop_reason to
Parquet). docs/s and MB/s of text.
Agreement: every filter of datatrove applied to every document on its own (not stopping at the first that
drops), against the fanno-spark rules of the same family; per family and for the whole decision, the
share of documents both keep or both drop, and for each rule how many documents only one side drops.
"""

from __future__ import annotations

import gzip
import json
import shutil
import time
from collections import Counter
from multiprocessing import Pool
from pathlib import Path

from pyspark.sql import functions as F

from fanno_spark.config import InputConfig, PrescreenConfig
from fanno_spark.fs import LocalFS
from fanno_spark.io.readers import read_corpus
from fanno_spark.prescreen import heuristics

from .corpus import CACHE, pages
from .p1_prescreen import run_datatrove

WORK = CACHE / "p1-parity"
# datatrove's defaults (GopherQualityFilter, GopherRepetitionFilter, C4QualityFilter), where fanno-spark's differ
SAME_THRESHOLDS = PrescreenConfig(min_alpha_word_ratio=0.8, min_sentences=5, filter_curly_bracket=True, languages=(),
                                  tokenizer="spacy_en")
FAMILIES = {
    "gopher_repetition": ("duplicate_paragraphs", "duplicate_paragraph_chars", "duplicate_lines",
                          "duplicate_line_chars", "top_2gram", "top_3gram", "top_4gram",
                          *(f"duplicate_{n}grams" for n in range(5, 11))),
    "gopher_quality": ("too_few_words", "too_many_words", "short_mean_word_length", "long_mean_word_length",
                       "symbol_ratio", "low_alpha_ratio", "few_stop_words", "bullet_lines", "ellipsis_lines"),
    "c4": ("few_sentences", "lorem_ipsum", "curly_bracket"),
}


def build_corpus(n: int, shards: int = 2) -> tuple[Path, int, float]:
    """n pages (or as many as the installed code's docstrings give) as gzipped JSONL shards."""
    out = WORK / f"pages-{n}"
    if not (out / "_DONE").exists():
        out.mkdir(parents=True, exist_ok=True)
        docs = pages(n)
        for s in range(shards):
            with gzip.open(out / f"part-{s}.jsonl.gz", "wt") as fh:
                for d in docs[s::shards]:
                    fh.write(json.dumps(d) + "\n")
        sizes = sorted(len(d["text"]) for d in docs)
        (out / "_DONE").write_text(json.dumps({"docs": len(docs), "mb": sum(sizes) / 1e6,
                                               "median_chars": sizes[len(sizes) // 2]}))
    meta = json.loads((out / "_DONE").read_text())
    return out, meta["docs"], meta["mb"]


def _texts(corpus: Path) -> list[tuple[str, str]]:
    rows = []
    for f in sorted(corpus.glob("*.jsonl.gz")):
        with gzip.open(f, "rt") as fh:
            rows += [(d["id"], d["text"]) for d in map(json.loads, fh)]
    return rows


_FILTERS = None


def _datatrove_one(item: tuple[str, str]) -> tuple[str, dict]:
    global _FILTERS
    from datatrove.data import Document
    from datatrove.pipeline.filters import C4QualityFilter, GopherQualityFilter, GopherRepetitionFilter

    if _FILTERS is None:
        _FILTERS = {"gopher_repetition": GopherRepetitionFilter(), "gopher_quality": GopherQualityFilter(),
                    "c4": C4QualityFilter()}
    out = {}
    for family, f in _FILTERS.items():
        res = f.filter(Document(text=item[1], id=item[0]))  # a fresh Document: C4 edits the text it keeps
        out[family] = None if res is True else (res[1] if isinstance(res, tuple) else "dropped")
    return item[0], out


def datatrove_decisions(corpus: Path) -> dict[str, dict]:
    with Pool(2) as pool:
        return dict(pool.imap_unordered(_datatrove_one, _texts(corpus), chunksize=256))


def spark_decisions(spark, scored: Path) -> dict[str, dict]:
    """Per document, the first rule of each family that drops it (None: the family keeps it), from the scores
    the timed run wrote."""
    rules = dict((reason, cond) for cond, reason in heuristics.heuristic_rules(SAME_THRESHOLDS))
    cols = []
    for family, names in FAMILIES.items():
        expr = None
        for name in names:
            if name in rules:
                expr = (F.when(rules[name], F.lit(name)) if expr is None else expr.when(rules[name], F.lit(name)))
        cols.append(expr.alias(family))
    rows = spark.read.parquet(str(scored)).select("id", *cols).collect()  # a benchmark's corpus: bounded by its size
    return {r["id"]: {f: r[f] for f in FAMILIES} for r in rows}


def time_spark(spark, corpus: Path, out: Path) -> float:
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    docs = read_corpus(spark, InputConfig(path=str(corpus), format="jsonl"), LocalFS())
    scored = heuristics.score_documents(docs, SAME_THRESHOLDS.tokenizer)
    # the heuristics only (no exact dedup, as on datatrove's side): every document with its scores and reason
    scored.withColumn("drop_reason", heuristics.heuristic_reason(SAME_THRESHOLDS)).write.parquet(str(out))
    return time.perf_counter() - start


def agreement(ours: dict[str, dict], theirs: dict[str, dict]) -> tuple[list[dict], dict]:
    ids = sorted(set(ours) & set(theirs))
    rows = []
    for family in [*FAMILIES, "all"]:
        def dropped(d, family=family):
            return any(d[f] for f in FAMILIES) if family == "all" else bool(d[family])
        same = sum(dropped(ours[i]) == dropped(theirs[i]) for i in ids)
        rows.append({"bench": "P1L", "what": f"agreement, {family.replace('_', ' ')} (both keep or both drop)",
                     "docs": len(ids), "ratio": round(same / len(ids), 4),
                     "kept": sum(not dropped(ours[i]) for i in ids),
                     "drops": {"datatrove_kept": sum(not dropped(theirs[i]) for i in ids)}})
    only = Counter()  # rule -> documents only that side drops (within the rule's family)
    for i in ids:
        for family in FAMILIES:
            a, b = ours[i][family], theirs[i][family]
            if a and not b:
                only[f"fanno:{a}"] += 1
            elif b and not a:
                only[f"datatrove:{b}"] += 1
    return rows, dict(sorted(only.items(), key=lambda kv: -kv[1]))


def run(spark, n: int = 100_000) -> list[dict]:
    corpus, docs, mb = build_corpus(n)
    median = json.loads((corpus / "_DONE").read_text()).get("median_chars")
    print(f"P1 parity corpus: {docs} pages, {mb:.1f} MB, median {median} characters", flush=True)
    # JVM and Python workers warmed on the first 2,000 of these pages (2 % of the chunk cache primed), then timed once
    time_spark(spark, build_corpus(2000)[0], WORK / "spark-warm")
    s_time = time_spark(spark, corpus, WORK / "spark-out")
    d_time, d_kept = run_datatrove(corpus)  # P1's datatrove pipeline, on these pages
    print(f"P1 parity speed: fanno-spark {s_time:.1f}s, datatrove {d_time:.1f}s", flush=True)
    ours, theirs = spark_decisions(spark, WORK / "spark-out"), datatrove_decisions(corpus)
    rows, only = agreement(ours, theirs)
    print(f"P1 parity disagreements: {only}", flush=True)
    corpus_note = {"MB": round(mb, 1), "median_chars": median}
    return [
        {"bench": "P1L", "what": "like for like: fanno-spark heuristics (spaCy tokens), datatrove's thresholds, no dedup, "
                                 "local[2]", "docs": docs, "seconds": round(s_time, 1), "docs_per_s": round(docs / s_time),
         "drops": {**corpus_note, "MB_per_s": round(mb / s_time, 2)}},
        {"bench": "P1L", "what": "like for like: datatrove Gopher repetition + quality + C4 (2 tasks, 2 workers)",
         "docs": docs, "seconds": round(d_time, 1), "docs_per_s": round(docs / d_time), "kept": d_kept,
         "drops": {**corpus_note, "MB_per_s": round(mb / d_time, 2)}},
        {"bench": "P1L", "what": "like for like: speed ratio fanno-spark / datatrove (goal >= 3)",
         "ratio": round(d_time / s_time, 2)},
        *rows,
        {"bench": "P1L", "what": "like for like: documents only one side drops, per rule", "drops": only},
    ]
