"""P1: pre-screen heuristics, docs/s, fanno-spark (native column expressions) vs datatrove.

Same corpus files, same 2 cores, measured in one run. datatrove runs GopherRepetitionFilter,
GopherQualityFilter and C4QualityFilter in its LocalPipelineExecutor with 2 tasks / 2 workers,
reading and writing JSONL. fanno-spark reads the same JSONL, computes the same family of scores
(Gopher quality + repetition incl. top and duplicate n-grams, C4 document rules), decides, and writes
kept and rejected Parquet, on local[2]. The Spark session is started (and warmed on a slice) before
the clock starts; datatrove's process pool start is inside its time, as a user would see it.
Each side runs twice, interleaved; the best time of each is reported.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from fanno_spark.config import InputConfig, PrescreenConfig
from fanno_spark.fs import LocalFS
from fanno_spark.io.readers import read_corpus
from fanno_spark.prescreen import heuristics, language

WORK = Path(__file__).parent / ".cache" / "p1"


def run_spark(spark, corpus: Path, with_language: bool, max_docs: int | None = None
              ) -> tuple[float, int, dict[str, int]]:
    cfg = PrescreenConfig(languages=("en",) if with_language else ())
    out = WORK / ("spark-lang" if with_language else "spark")
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    docs = read_corpus(spark, InputConfig(path=str(corpus), format="jsonl", max_docs=max_docs), LocalFS())
    if with_language:
        docs = language.add_language(docs)
    decided = heuristics.decide(heuristics.score_documents(docs), cfg)
    decided.write.partitionBy("drop_reason").parquet(str(out))  # kept (null reason) and rejected, one pass
    elapsed = time.perf_counter() - start
    written = spark.read.parquet(str(out))
    counts = {(r["drop_reason"] or "kept"): r["count"] for r in written.groupBy("drop_reason").count().collect()}
    return elapsed, written.count(), counts


def run_datatrove(corpus: Path) -> tuple[float, int]:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.filters import C4QualityFilter, GopherQualityFilter, GopherRepetitionFilter
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    out = WORK / "datatrove"
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    LocalPipelineExecutor(
        pipeline=[JsonlReader(str(corpus), glob_pattern="*.jsonl.gz"), GopherRepetitionFilter(),
                  GopherQualityFilter(), C4QualityFilter(), JsonlWriter(str(out / "kept"))],
        tasks=2, workers=2, logging_dir=str(out / "logs"), skip_completed=False,
    ).run()
    elapsed = time.perf_counter() - start
    kept = sum(1 for f in (out / "kept").glob("*.jsonl.gz") for _ in __import__("gzip").open(f, "rt"))
    return elapsed, kept


def run(spark, corpus: Path, n_docs: int) -> list[dict]:
    WORK.mkdir(parents=True, exist_ok=True)
    # Warm the JVM and the Python workers (both UDFs) on a slice: the timed runs measure throughput.
    run_spark(spark, corpus, with_language=True, max_docs=2000)
    # Best of two for each side, interleaved, so a noisy minute on this shared machine hits both.
    s_time, d_time = float("inf"), float("inf")
    for _ in range(2):
        t, s_rows, counts = run_spark(spark, corpus, with_language=False)
        s_time = min(s_time, t)
        t, d_kept = run_datatrove(corpus)
        d_time = min(d_time, t)
        print(f"P1 spark {s_time:.1f}s, datatrove {d_time:.1f}s", flush=True)
    sl_time, _, counts_lang = run_spark(spark, corpus, with_language=True)
    assert s_rows == n_docs, f"spark wrote {s_rows} rows for {n_docs} documents"
    return [
        {"bench": "P1", "what": "fanno-spark heuristics (Gopher+repetition+C4), local[2]", "docs": n_docs,
         "seconds": round(s_time, 1), "docs_per_s": round(n_docs / s_time), "kept": counts.get("kept", 0),
         "drops": {k: v for k, v in sorted(counts.items()) if k != "kept"}},
        {"bench": "P1", "what": "fanno-spark heuristics + language ID (py3langid UDF)", "docs": n_docs,
         "seconds": round(sl_time, 1), "docs_per_s": round(n_docs / sl_time), "kept": counts_lang.get("kept", 0),
         "drops": {"language": counts_lang.get("language", 0)}},
        {"bench": "P1", "what": "datatrove 0.10.1 Gopher quality+repetition, C4 (2 tasks, 2 workers)",
         "docs": n_docs, "seconds": round(d_time, 1), "docs_per_s": round(n_docs / d_time), "kept": d_kept},
        {"bench": "P1", "what": "ratio fanno-spark / datatrove (goal >= 2.0)",
         "ratio": round(d_time / s_time, 2)},
    ]
