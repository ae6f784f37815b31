"""Passages: a kept document longer than `segment.max_tokens` is cut at sentence starts into passages, each as
many whole sentences as fit (one sentence longer than the budget is a passage of its own: never cut inside a
sentence); a shorter document stays whole. The sentences come from Spark NLP's rule-based SentenceDetector,
in the JVM, with the sentence marks of scripts its default rules do not know added as bounds.

A passage's span [span_start, span_end) is in characters of the document's text; the spans of a document
tile it exactly (the whitespace after a sentence goes with it), so the passages joined are the document.
Every unit keeps `doc_id` (its document) and `passage` (its index); a whole document's unit id is its own
id, a passage's `<doc id>#p<index>`."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ..prompts.doc_budget import DocBudget

# Full stops and question / exclamation marks of Chinese and Japanese (full-width and half-width), Arabic and
# Persian (؟ ؛ ۔), Urdu, Devanagari (। ॥), Armenian, Ethiopic, and the ellipsis: the default rules know . ! ?
MARKS = ("。", "．", "！", "？", "｡", "؟", "۔", "।", "॥", "։", "።", "…")

UNIT_FIELDS = [T.StructField("id", T.StringType()), T.StructField("doc_id", T.StringType()),
               T.StructField("passage", T.IntegerType()), T.StructField("span_start", T.IntegerType()),
               T.StructField("span_end", T.IntegerType()), T.StructField("passage_tokens", T.IntegerType())]


def sentence_starts(docs: DataFrame) -> DataFrame:
    """(id, starts): the UTF-16 offsets at which Spark NLP's SentenceDetector starts each sentence of `text`."""
    from pyspark.ml import Pipeline
    from sparknlp.annotator import SentenceDetector
    from sparknlp.base import DocumentAssembler

    pipe = Pipeline(stages=[
        # cleanup off: offsets must index the text as stored
        DocumentAssembler().setInputCol("text").setOutputCol("document").setCleanupMode("disabled"),
        SentenceDetector().setInputCols(["document"]).setOutputCol("sentence").setCustomBounds(list(MARKS))
        .setCustomBoundsStrategy("append").setUseCustomBoundsOnly(False),
    ])
    out = pipe.fit(docs.limit(0)).transform(docs.select("id", "text"))
    return out.select("id", F.expr("transform(sentence, s -> s.begin)").alias("starts"))


def _code_points(text: str, offsets: list[int]) -> list[int]:
    """UTF-16 offsets (the JVM's) -> str indexes (code points): they differ after a character beyond the BMP."""
    if all(ord(c) <= 0xFFFF for c in text):
        return offsets
    units, index = [], 0  # units[i] = UTF-16 offset of text[i]
    for c in text:
        units.append(index)
        index += 2 if ord(c) > 0xFFFF else 1
    lookup = {u: i for i, u in enumerate(units)}
    return [lookup[o] for o in offsets if o in lookup]


def pack(text: str, starts: list[int], max_tokens: int, count: Callable[[str], int]) -> list[tuple[int, int, int]]:
    """Sentences [start_k, start_k+1) packed greedily into spans of at most max_tokens (a longer sentence alone):
    (span_start, span_end, tokens), tiling [0, len(text))."""
    bounds = sorted({0, *(s for s in starts if 0 < s < len(text))}) + [len(text)]
    spans, first, tokens = [], 0, 0
    for a, b in zip(bounds, bounds[1:], strict=False):
        n = count(text[a:b])
        if tokens and tokens + n > max_tokens:
            spans.append((first, a, tokens))
            first, tokens = a, 0
        tokens += n
    spans.append((first, len(text), tokens))
    return spans


def split_documents(docs: DataFrame, max_tokens: int | None, budget: DocBudget) -> DataFrame:
    """docs(id, text, ...) -> one row per unit: the document's columns, `text` the unit's, and UNIT_FIELDS."""
    extra = [f for f in docs.schema.fields if f.name not in ("id", "text")]
    schema = T.StructType([*UNIT_FIELDS, T.StructField("text", T.StringType()), *extra])
    names = schema.fieldNames()
    tokens = F.pandas_udf(lambda s: s.map(budget.count), "int")
    counted = docs.withColumn("_tokens", tokens("text"))
    if max_tokens is None:
        return _whole(counted, names)
    long = counted.where(F.col("_tokens") > max_tokens)
    cut = long.join(sentence_starts(long), "id", "left")

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for pdf in batches:
            rows = []
            for row in pdf.to_dict("records"):
                text = row["text"]
                starts = _code_points(text, [int(s) for s in row["starts"]] if row["starts"] is not None else [])
                for k, (a, b, n) in enumerate(pack(text, starts, max_tokens, budget.count)):
                    rows.append({**{f.name: row[f.name] for f in extra}, "id": f"{row['id']}#p{k}",
                                 "doc_id": row["id"], "passage": k, "span_start": a, "span_end": b,
                                 "passage_tokens": n, "text": text[a:b]})
            yield pd.DataFrame(rows, columns=names)

    return _whole(counted.where(F.col("_tokens") <= max_tokens), names).unionByName(cut.mapInPandas(run, schema))


def _whole(counted: DataFrame, names: list[str]) -> DataFrame:
    return (counted.withColumn("doc_id", F.col("id")).withColumn("passage", F.lit(0))
            .withColumn("span_start", F.lit(0)).withColumn("span_end", F.length("text"))
            .withColumnRenamed("_tokens", "passage_tokens").select(*names))
