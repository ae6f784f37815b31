"""Gopher n-gram repetition scores, vectorised with numpy inside one iterator pandas UDF.

Why not column expressions like the other heuristics: Spark evaluates array lambdas (transform,
zip_with, aggregate with a struct state) in its interpreter at roughly 0.3-1 µs per element, and
Gopher's repetition rules need a sorted pass over every n-gram for nine values of n. Written that
way the scores took 25-49 s on the 25k-document benchmark corpus (2 cores); with numpy on word
hashes they take a few seconds (bench P1). Everything cheaper stays native in heuristics.py.

top_<n>  (n = 2, 3, 4):  characters of the most frequent n-gram x its count (datatrove's find_top_duplicate)
dup_<n>  (n = 5 .. 10):  characters of the words covered by every repeated occurrence after the first
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T

TOP_NGRAMS = (2, 3, 4)
DUP_NGRAMS = (5, 6, 7, 8, 9, 10)
FIELDS = [f"top_{n}" for n in TOP_NGRAMS] + [f"dup_{n}" for n in DUP_NGRAMS]
SCHEMA = T.StructType([T.StructField(f, T.LongType()) for f in FIELDS])
_MIX = np.int64(1_000_003)


def repetition_counts(text: str) -> dict[str, int]:
    words = text.lower().split()
    out = dict.fromkeys(FIELDS, 0)
    n_words = len(words)
    if n_words < 2:
        return out
    wh = np.fromiter((hash(w) for w in words), dtype=np.int64, count=n_words)
    wl = np.fromiter((len(w) for w in words), dtype=np.int64, count=n_words)
    keys = wh
    with np.errstate(over="ignore"):  # the rolling hash wraps around on purpose
        for n in range(2, max(DUP_NGRAMS) + 1):
            if n_words < n:
                break
            keys = keys[:-1] * _MIX + wh[n - 1:]  # hash of the n-gram starting at each position
            _, first, inverse, counts = np.unique(keys, return_index=True, return_inverse=True, return_counts=True)
            if n in TOP_NGRAMS:
                best = int(np.argmax(counts))
                at = int(first[best])
                out[f"top_{n}"] = int(counts[best]) * (int(wl[at:at + n].sum()) + n - 1)
            if n in DUP_NGRAMS and len(counts) < len(keys):
                repeats = np.nonzero(first[inverse] != np.arange(len(keys)))[0]
                edge = np.zeros(n_words + 1, dtype=np.int64)
                np.add.at(edge, repeats, 1)
                np.add.at(edge, repeats + n, -1)
                covered = np.cumsum(edge[:-1]) > 0
                out[f"dup_{n}"] = int(wl[covered].sum())
    return out


def repetition_scores(text: Column) -> Column:
    """A struct column of the character counts above (divide by the text length for fractions)."""

    @F.pandas_udf(SCHEMA)
    def _scores(batches: Iterator[pd.Series]) -> Iterator[pd.DataFrame]:
        for texts in batches:
            yield pd.DataFrame([repetition_counts(t or "") for t in texts], columns=FIELDS)

    return _scores(text)
