"""`embed.engine: sparknlp`: the bundled MiniLM, exported to ONNX (minilm_onnx.py), run by Spark NLP's
`E5Embeddings` annotator inside the JVM: no Python worker, no Arrow round trip, no torch on the executors.

The annotator is imported once per SparkSession on the driver (`loadSavedModel` reads a local folder) and
travels to the executors with the pipeline. Threads: each task's ONNX session gets the task's share of the
executor's cores (spark.jsl.settings.onnx.intraOpNumThreads, set by spark_env.build_spark), not every core.
On GPU executors the same folder runs under the spark-nlp-gpu jar (onnxruntime_gpu) in place of spark-nlp;
nothing else changes.
"""

from __future__ import annotations

import functools
import unicodedata

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ..config import EmbedConfig

# Java regexes of what BERT's tokenizer counts as punctuation, and as characters to drop
PUNCTUATION = r"([\p{P}!-/:-@\[-`{-~])"
CONTROL = r"[[\p{Cc}\p{Cf}\x{FFFD}]&&[^\t\n\r]]"
_ANNOTATORS: dict[tuple, object] = {}  # (session, folder, max_tokens, batch) -> E5Embeddings


@functools.cache
def _accents() -> tuple[str, str]:
    """BERT's accent stripping (NFD, combining marks dropped) as a one-for-one character map, for every
    character of the Basic Multilingual Plane it turns into one other character (で -> て, ώ -> ω, ệ -> e)."""
    accented, bare = [], []
    for cp in range(0x80, 0x10000):
        if 0xD800 <= cp < 0xE000:
            continue
        c = chr(cp)
        stripped = "".join(ch for ch in unicodedata.normalize("NFD", c) if unicodedata.category(ch) != "Mn")
        if len(stripped) == 1 and stripped != c:
            accented.append(c)
            bare.append(stripped)
    return "".join(accented), "".join(bare)


def _annotator(spark, folder: str, max_tokens: int, batch_size: int):
    key = (id(spark), folder, max_tokens, batch_size)
    if key not in _ANNOTATORS:
        from sparknlp.annotator import E5Embeddings

        _ANNOTATORS[key] = (E5Embeddings.loadSavedModel(folder, spark).setInputCols(["_document"])
                            .setOutputCol("_embeddings").setCaseSensitive(False)
                            .setMaxSentenceLength(max_tokens).setBatchSize(batch_size))
    return _ANNOTATORS[key]


@functools.cache  # the folder's key reads the weights' header: once per process, not once per stage
def model_folder(model_path: str) -> str:
    """The ONNX import folder of this model (exported now if `make install` has not done it)."""
    from .minilm_onnx import export

    return str(export(model_path))


def embed_documents(df: DataFrame, cfg: EmbedConfig, model_path: str, text_col: str = "text",
                    out_col: str = "embedding") -> DataFrame:
    """Add a unit-norm `array<float>` embedding of the first cfg.max_chars characters (cfg.max_tokens tokens),
    as embed.py's engine does. The document assembler drops an empty text (no annotation, no vector): it goes in
    as one space, whose tokens are [CLS] [SEP], as the torch engine embeds an empty text."""
    from pyspark.ml import PipelineModel
    from sparknlp.base import DocumentAssembler

    spark = df.sparkSession
    annotator = _annotator(spark, model_folder(model_path), cfg.max_tokens, cfg.batch_size)
    tmp = "_embed_text"
    text = F.substring(F.coalesce(F.col(text_col), F.lit("")), 1, cfg.max_chars)
    # What BERT's normaliser does and Spark NLP's tokenizer does not, done first: control and format characters
    # dropped ("zero\u200bwidth" is one word), accents stripped as BERT strips them (the kana's too), every space
    # separator a space (NBSP), every punctuation mark split off ("about—users"; Unicode P*, and the ASCII
    # symbols). The two tokenizers then see the same pieces.
    text = F.regexp_replace(text, CONTROL, "")
    accented, bare = _accents()
    text = F.regexp_replace(F.translate(text, accented, bare), r"\p{Mn}", "")
    text = F.regexp_replace(text, r"\p{Zs}", " ")
    text = F.regexp_replace(text, PUNCTUATION, " $1 ")
    staged = df.withColumn(tmp, F.when(text == "", F.lit(" ")).otherwise(text))
    assembler = DocumentAssembler().setInputCol(tmp).setOutputCol("_document")
    out = PipelineModel(stages=[assembler, annotator]).transform(staged)
    return (out.withColumn(out_col, F.col("_embeddings").getItem(0).getField("embeddings"))
            .drop(tmp, "_document", "_embeddings"))
