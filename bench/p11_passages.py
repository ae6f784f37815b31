"""P11: passages (segment.max_tokens, the passages stage) on the bench's full-length pages (bench/corpus.py
`pages`: real prose of 2,000-8,000 characters, P1L's kind): how many pages are cut, into how many passages, the
passages' length in tokens of the default LLM's tokenizer (a histogram), and the stage's speed, on the bench's
local[2] session (Spark NLP's SentenceDetector in the JVM, the tokenizer in pandas UDFs)."""

from __future__ import annotations

import time

from pyspark.sql import functions as F

from fanno_spark.llm.model_store import DEFAULT_MODEL, resolve_model
from fanno_spark.prescreen.passages import split_documents
from fanno_spark.prompts.doc_budget import DocBudget

from .corpus import pages

BINS = (128, 256, 512, 768, 1024, 1536, 2048)


def run(spark, n: int = 20_000, max_tokens: int = 1024) -> list[dict]:
    docs = spark.createDataFrame(pages(n)).select("id", "text", "url").repartition(4).cache()
    n = docs.count()
    budget = DocBudget(tokenizer=resolve_model(DEFAULT_MODEL), context=0, reserve=0)
    start = time.perf_counter()
    units = split_documents(docs, max_tokens, budget).cache()
    rows = units.count()
    secs = round(time.perf_counter() - start, 1)
    per_doc = {r["k"]: r["count"] for r in units.groupBy("doc_id").agg(F.count("*").alias("k"))
               .groupBy("k").count().collect()}
    bin_of = F.expr("CASE " + " ".join(f"WHEN passage_tokens <= {b} THEN '<={b}'" for b in BINS)
                    + f" ELSE '>{BINS[-1]}' END")
    hist = {r["bin"]: r["count"] for r in units.groupBy(bin_of.alias("bin")).count().collect()}
    order = [f"<={b}" for b in BINS] + [f">{BINS[-1]}"]
    med = units.select(F.expr("percentile_approx(passage_tokens, 0.5)")).first()[0]
    cut = sum(v for k, v in per_doc.items() if k > 1)
    units.unpersist()
    docs.unpersist()
    what = f"passages at segment.max_tokens={max_tokens} on {n} full-length pages"
    return [
        {"bench": "P11", "what": what, "docs": n, "seconds": secs, "docs_per_s": round(n / secs, 1),
         "drops": {"pages_cut": cut, "pages_whole": per_doc.get(1, 0), "units": rows, "median_tokens": med}},
        {"bench": "P11", "what": "passages per page (pages)", "drops": dict(sorted(per_doc.items()))},
        {"bench": "P11", "what": "passage length in tokens (passages)",
         "drops": {k: hist[k] for k in order if k in hist}},
    ]
