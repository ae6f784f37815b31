"""Near-duplicate removal with MinHash LSH on word shingles (pyspark.ml; never all pairs).

MinHashLSH buckets documents per hash table by the minimum hash of their shingle set; only documents
sharing a bucket are compared, and the chance of sharing one equals their Jaccard similarity, so the
work grows with the number of true near-duplicates, not with n². A document is dropped when a
document with a smaller id is within the threshold: the smallest id of each cluster survives, and a
chain A~B~C whose ends differ keeps both ends' first member (no transitive over-deletion).
"""

from __future__ import annotations

from pyspark.ml.feature import HashingTF, MinHashLSH, NGram, RegexTokenizer
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ..config import DedupConfig
from ..decide import drop_if


def near_duplicate_pairs(docs: DataFrame, cfg: DedupConfig) -> DataFrame:
    """(src, dst, jaccard) with src < dst for documents whose shingle Jaccard >= cfg.jaccard_threshold."""
    tok = RegexTokenizer(inputCol="text", outputCol="_words", pattern=r"\W+", toLowercase=True)
    shingles = NGram(n=cfg.shingle_words, inputCol="_words", outputCol="_shingles")
    tf = HashingTF(inputCol="_shingles", outputCol="_features", numFeatures=1 << 22, binary=True)
    feats = tf.transform(shingles.transform(tok.transform(docs.select("id", "text"))))
    # MinHash needs at least one shingle; a text shorter than one shingle cannot be a near-duplicate.
    feats = feats.where(F.size("_shingles") > 0).select("id", "_features")
    model = MinHashLSH(inputCol="_features", outputCol="_hashes", numHashTables=cfg.minhash_tables,
                       seed=cfg.seed).fit(feats)
    hashed = model.transform(feats).cache()
    pairs = model.approxSimilarityJoin(hashed, hashed, 1.0 - cfg.jaccard_threshold, "jdist")
    return (pairs.select(F.col("datasetA.id").alias("src"), F.col("datasetB.id").alias("dst"),
                         (1.0 - F.col("jdist")).alias("jaccard"))
            .where(F.col("src") < F.col("dst")).dropDuplicates(["src", "dst"]))


def mark_near_duplicates(decided: DataFrame, cfg: DedupConfig) -> DataFrame:
    """Add near_duplicate_of and set drop_reason='near_duplicate' among still-kept documents."""
    if not cfg.enabled:
        return decided.withColumn("near_duplicate_of", F.lit(None).cast("string"))
    candidates = decided.where(F.col("drop_reason").isNull())
    pairs = near_duplicate_pairs(candidates, cfg)
    first = pairs.groupBy(F.col("dst").alias("id")).agg(F.min("src").alias("near_duplicate_of"))
    out = decided.join(first, "id", "left")
    return drop_if(out, F.when(F.col("near_duplicate_of").isNotNull(), F.lit("near_duplicate")))
