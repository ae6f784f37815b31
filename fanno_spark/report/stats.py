"""Report statistics of the final dataset, computed as Spark aggregations (the driver only ever holds
histograms, top-k tables and a bounded per-round sample of embeddings)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pyspark.ml.feature import NGram
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ..config import EmbedConfig
from ..generate.tags import DIFFICULTY, STYLES, TASK_TYPES
from ..prescreen.embed import embed_documents
from ..text.verbs import verb_noun

VN_TYPE = T.StructType([T.StructField("verb", T.StringType()), T.StructField("noun", T.StringType())])


def _words(col: str):
    return F.size(F.split(F.trim(F.coalesce(F.col(col), F.lit(""))), r"\s+"))


def length_histogram(final: DataFrame, col: str, bin_words: int, cap: int) -> pd.DataFrame:
    """Rows per word-count bucket; lengths above cap fall in the last bucket."""
    bucket = (F.least(_words(col), F.lit(cap)) / bin_words).cast("int") * bin_words
    return final.groupBy(bucket.alias("words")).count().orderBy("words").toPandas()


def verb_noun_counts(final: DataFrame) -> tuple[pd.DataFrame, float]:
    """(verb, noun, count) over all instructions, and the fraction of instructions with a match."""
    udf = F.udf(lambda s: verb_noun(s), VN_TYPE)
    vn = final.select(udf("instruction").alias("vn")).select("vn.verb", "vn.noun").cache()
    total = vn.count()
    counts = vn.where(F.col("verb").isNotNull()).groupBy("verb", "noun").count().toPandas()
    vn.unpersist()
    covered = float(counts["count"].sum()) / total if total else 0.0
    return counts.sort_values(["count", "verb", "noun"], ascending=[False, True, True]), covered


def tag_counts(final: DataFrame) -> pd.DataFrame:
    """Pairs per (task_type, difficulty, style), the full 12 x 4 x 2 grid with zeros."""
    got = final.groupBy("task_type", "difficulty", "style").count().toPandas()
    grid = pd.MultiIndex.from_product([TASK_TYPES, DIFFICULTY, STYLES],
                                      names=["task_type", "difficulty", "style"]).to_frame(index=False)
    return grid.merge(got, how="left").fillna({"count": 0}).astype({"count": int})


def _distinct_n(final: DataFrame, n: int) -> pd.DataFrame:
    tokens = final.select("round", F.split(F.lower(F.trim("instruction")), r"\W+").alias("tok"))
    tokens = tokens.withColumn("tok", F.filter("tok", lambda t: t != ""))
    grams = NGram(n=n, inputCol="tok", outputCol="g").transform(tokens).select("round", F.explode("g").alias("g"))
    return grams.groupBy("round").agg((F.countDistinct("g") / F.count("g")).alias(f"distinct_{n}")).toPandas()


def diversity_per_round(final: DataFrame, embed_cfg: EmbedConfig, model_path: str, sample: int) -> pd.DataFrame:
    """Per augmentation round: pairs, distinct-1/2 of instruction words, and the mean pairwise cosine of
    MiniLM embeddings over a deterministic sample of at most `sample` instructions (lower = more diverse)."""
    rounds = final.groupBy("round").count().withColumnRenamed("count", "pairs").toPandas()
    out = rounds.merge(_distinct_n(final, 1), on="round", how="left").merge(_distinct_n(final, 2), on="round",
                                                                          how="left")
    w = Window.partitionBy("round").orderBy(F.xxhash64("instruction_id"))
    picked = (final.select("round", "instruction_id", "instruction").withColumn("i", F.row_number().over(w))
              .where(F.col("i") <= sample))
    vecs = embed_documents(picked, embed_cfg, model_path, text_col="instruction").select("round", "embedding")
    by_round: dict[int, list] = {}
    for row in vecs.toLocalIterator():
        by_round.setdefault(row["round"], []).append(row["embedding"])
    cosines = [_pairwise_cosines(by_round.get(r, [])) for r in out["round"]]  # once per round
    out["mean_cosine"] = [float(c.mean()) if len(c) else float("nan") for c in cosines]
    out["max_cosine"] = [float(c.max()) if len(c) else float("nan") for c in cosines]
    out = out.sort_values("round").reset_index(drop=True)
    out.attrs["all_vectors"] = [v for r in sorted(by_round) for v in by_round[r]]  # for the near-duplicate share
    return out


def _pairwise_cosines(vectors: list) -> np.ndarray:
    """Cosines of every unordered pair (i < j) of the vectors."""
    x = np.asarray(vectors, dtype=np.float64)
    if len(x) < 2:
        return np.zeros(0)
    x /= np.linalg.norm(x, axis=1, keepdims=True).clip(min=1e-12)
    sims = x @ x.T
    return sims[np.triu_indices(len(x), k=1)]


def near_duplicate_share(vectors: list, threshold: float) -> float:
    """Share of instruction pairs (over the report's sample of every round) at or above the threshold."""
    cos = _pairwise_cosines(vectors)
    return float((cos >= threshold - 1e-6).mean()) if len(cos) else 0.0


QUALITY = T.StructType([T.StructField("source_ref", T.BooleanType()), T.StructField("request", T.BooleanType())])


def quality_shares(final: DataFrame) -> dict[str, float]:
    """Shares of final instructions that point at a source the reader cannot see (FANNO's source words where
    they point at one, instruction_rules.refers_to_source), that are requests (question or imperative), and
    that carry a non-empty input."""
    from ..generate.instruction_rules import is_request, refers_to_source, unquoted

    @F.pandas_udf(QUALITY)
    def flags(instruction: pd.Series) -> pd.DataFrame:
        texts = instruction.fillna("")
        return pd.DataFrame({"source_ref": [refers_to_source(unquoted(t)) is not None for t in texts],
                             "request": [is_request(t) for t in texts]})

    has_input = F.length(F.trim(F.coalesce(F.col("input"), F.lit("")))) > 0 if "input" in final.columns else F.lit(False)
    row = (final.select(flags("instruction").alias("f"), has_input.alias("has_input"))
           .agg(F.count("*").alias("n"), F.avg(F.col("f.source_ref").cast("double")).alias("source"),
                F.avg(F.col("f.request").cast("double")).alias("request"),
                F.avg(F.col("has_input").cast("double")).alias("input")).first())
    if not row["n"]:
        return {}
    return {"report.source_reference_share": float(row["source"]), "report.request_share": float(row["request"]),
            "report.input_share": float(row["input"])}
