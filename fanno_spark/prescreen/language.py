"""Language identification with langid.py's model (py3langid ships it inside the wheel: no download).

The one prescreen score Spark SQL cannot express; an iterator pandas UDF loads the model once per
Python worker and scores the head of each document (the language rarely changes after 2k chars).
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

_IDENTIFIER = None
RESULT = T.StructType([T.StructField("language", T.StringType()), T.StructField("score", T.DoubleType())])


def _identifier():
    global _IDENTIFIER
    if _IDENTIFIER is None:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        _IDENTIFIER = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    return _IDENTIFIER


def identify(texts: list[str]) -> list[tuple[str | None, float]]:
    ident = _identifier()
    out = []
    for t in texts:
        if not t or not t.strip():
            out.append((None, 0.0))
            continue
        lang, prob = ident.classify(t)
        out.append((lang, float(prob)))
    return out


def add_language(df: DataFrame, max_chars: int = 2000) -> DataFrame:
    @F.pandas_udf(RESULT)
    def _lang(batches: Iterator[pd.Series]) -> Iterator[pd.DataFrame]:
        for texts in batches:
            res = identify(texts.fillna("").tolist())
            yield pd.DataFrame(res, columns=["language", "score"])

    return (df.withColumn("_lang", _lang(F.substring(F.coalesce("text", F.lit("")), 1, max_chars)))
            .withColumn("language", F.col("_lang.language"))
            .withColumn("language_score", F.col("_lang.score"))
            .drop("_lang"))
