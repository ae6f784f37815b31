"""LLM stages as DataFrame -> DataFrame functions: seed prompts, augmentation prompts, responses,
instruction parsing and the rule filter. Generation itself is llm.spark_generate.generate_cached."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ..config import FilterConfig
from ..llm.engine import Sampling, prompt_hash
from . import prompts
from .tags import sample_tags

PROMPT_SCHEMA = ("doc_id string, community string, task_type string, difficulty string, style string, "
                 "fewshot_ids array<string>, fewshot_texts array<string>, prompt_hash string, conversation string")

PROMPT_COLUMNS = [c.split()[0] for c in PROMPT_SCHEMA.split(", ")]


def _hash(model: str, sampling: Sampling, conversation_json: str) -> str:
    return prompt_hash(model, sampling, json.loads(conversation_json))


def seed_prompts(docs: DataFrame, model: str, sampling: Sampling, prompts_per_doc: int, seed: int,
                 max_doc_chars: int) -> DataFrame:
    """docs(id, text, community) -> one seed prompt per sampled tag combination."""

    def build(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for pdf in batches:
            rows = []
            for doc in pdf.itertuples(index=False):
                for tags in sample_tags(doc.id, prompts_per_doc, seed, salt="seed"):
                    conv = prompts.seed_conversation(doc.text, tags, max_doc_chars)
                    rows.append({"doc_id": doc.id, "community": doc.community, **tags,
                                 "fewshot_ids": [], "fewshot_texts": [],
                                 "prompt_hash": _hash(model, sampling, conv), "conversation": conv})
            yield pd.DataFrame(rows, columns=PROMPT_COLUMNS)

    return docs.select("id", "text", "community").mapInPandas(build, PROMPT_SCHEMA)


def augment_prompts(docs: DataFrame, picks: DataFrame, model: str, sampling: Sampling, round_no: int,
                    seed: int, max_doc_chars: int) -> DataFrame:
    """docs + picks(doc_id, fewshot_ids, fewshot_texts) -> one "think different" prompt per document."""
    # The driver's UCB picks travel to the executors as a broadcast (one small row per document).
    joined = docs.select(F.col("id").alias("doc_id"), "text", "community").join(F.broadcast(picks), "doc_id")

    def build(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for pdf in batches:
            rows = []
            for doc in pdf.itertuples(index=False):
                tags = sample_tags(doc.doc_id, 1, seed, salt=f"augment-{round_no}")[0]
                conv = prompts.augment_conversation(doc.text, list(doc.fewshot_texts), tags, max_doc_chars)
                rows.append({"doc_id": doc.doc_id, "community": doc.community, **tags,
                             "fewshot_ids": list(doc.fewshot_ids), "fewshot_texts": list(doc.fewshot_texts),
                             "prompt_hash": _hash(model, sampling, conv), "conversation": conv})
            yield pd.DataFrame(rows, columns=PROMPT_COLUMNS)

    return joined.mapInPandas(build, PROMPT_SCHEMA)


_PARSED = T.StructType([T.StructField("value", T.StringType()), T.StructField("reason", T.StringType())])


def _parse_instruction_udf(min_words: int):
    @F.pandas_udf(_PARSED)
    def parse(text: pd.Series, avoid: pd.Series) -> pd.DataFrame:
        example = prompts.template("seed_example_answer.txt")  # the one-shot answer, parroted back
        parsed = [prompts.parse_instruction(t, [example, *(a if a is not None else ())], min_words)
                  for t, a in zip(text, avoid, strict=True)]
        return pd.DataFrame({"value": [p[0] for p in parsed], "reason": [p[1] for p in parsed]})
    return parse


@F.pandas_udf(_PARSED)
def _parse_response_udf(text: pd.Series, finish: pd.Series) -> pd.DataFrame:
    parsed = [prompts.parse_response(t, f) for t, f in zip(text, finish, strict=True)]
    return pd.DataFrame({"value": [p[0] for p in parsed], "reason": [p[1] for p in parsed]})


def instruction_key(col: str = "instruction"):
    """Normalised text hash used for exact dedup of instructions across the whole pool."""
    return F.sha2(F.regexp_replace(F.lower(F.col(col)), r"[^a-z0-9]+", " "), 256)


def parse_and_filter_instructions(generated: DataFrame, pool: DataFrame | None, cfg: FilterConfig,
                                  round_no: int) -> DataFrame:
    """generated prompts -> candidates with `instruction` and a `drop_reason` (null = kept)."""
    from pyspark.sql.window import Window

    n_words = F.size(F.split(F.trim(F.col("instruction")), r"\s+"))
    avoid = F.col("fewshot_texts") if "fewshot_texts" in generated.columns else F.array().cast("array<string>")
    df = (generated.withColumn("_p", _parse_instruction_udf(cfg.min_words)(F.col("text"), avoid))
          .withColumn("instruction", F.col("_p.value"))
          .withColumn("instruction_id", instruction_key())
          .withColumn("round", F.lit(round_no)))
    reason = (F.when(F.col("text").isNull(), F.lit("no_generation"))
              .when(F.col("_p.reason").isNotNull(), F.col("_p.reason"))
              .when(n_words < cfg.min_words, F.lit("too_short"))
              .when(n_words > cfg.max_words, F.lit("too_long"))
              .when(F.col("instruction").rlike(prompts.banned_pattern(cfg.banned_words)), F.lit("banned_keyword")))
    df = df.withColumn("drop_reason", reason)
    dup_rank = F.row_number().over(Window.partitionBy("instruction_id", F.col("drop_reason").isNull())
                                   .orderBy("doc_id", "prompt_hash"))
    df = df.withColumn("drop_reason", F.coalesce("drop_reason", F.when(dup_rank > 1, F.lit("duplicate_in_round"))))
    if pool is not None:
        seen = pool.select("instruction_id").distinct().withColumn("_seen", F.lit(True))
        df = (df.join(seen, "instruction_id", "left")
              .withColumn("drop_reason", F.coalesce("drop_reason", F.when(F.col("_seen"), F.lit("duplicate_of_pool"))))
              .drop("_seen"))
    return df.drop("_p").withColumnRenamed("text", "raw_instruction_text").withColumnRenamed(
        "prompt_hash", "instruction_prompt_hash").withColumnRenamed(
        "completion_tokens", "instruction_tokens").drop("conversation", "finish_reason", "prompt_tokens",
                                                        "fewshot_texts")


def response_prompts(instructions: DataFrame, model: str, sampling: Sampling) -> DataFrame:
    """Direct mode: the instruction alone."""
    conv = F.udf(prompts.respond_conversation, T.StringType())
    phash = F.udf(lambda c: _hash(model, sampling, c), T.StringType())
    return instructions.withColumn("conversation", conv("instruction")).withColumn(
        "prompt_hash", phash("conversation"))


def rag_response_prompts(instructions: DataFrame, docs: DataFrame, neighbours: DataFrame, model: str,
                         sampling: Sampling, max_doc_chars: int) -> DataFrame:
    """RAG mode: instruction + its document + that document's nearest neighbour from the similarity
    graph. docs(id, text) must hold every kept document (a neighbour need not be a selected one);
    `rag_neighbour_id` records which neighbour was used (null: the document has no edge)."""
    texts = docs.select("id", "text")
    ctx = (instructions
           .join(neighbours.select(F.col("id").alias("doc_id"), F.col("neighbour_id").alias("rag_neighbour_id")),
                 "doc_id", "left")
           .join(texts.select(F.col("id").alias("doc_id"), F.col("text").alias("_doc")), "doc_id", "left")
           .join(texts.select(F.col("id").alias("rag_neighbour_id"), F.col("text").alias("_nb")),
                 "rag_neighbour_id", "left"))
    conv = F.udf(lambda i, d, n: prompts.respond_rag_conversation(i, d, n, max_doc_chars), T.StringType())
    phash = F.udf(lambda c: _hash(model, sampling, c), T.StringType())
    return (ctx.withColumn("conversation", conv("instruction", "_doc", "_nb")).drop("_doc", "_nb")
            .withColumn("prompt_hash", phash("conversation")))


def parse_responses(generated: DataFrame) -> DataFrame:
    return (generated.withColumn("_p", _parse_response_udf(F.col("text"), F.col("finish_reason")))
            .withColumn("output", F.col("_p.value"))
            .withColumn("drop_reason", F.coalesce(F.when(F.col("text").isNull(), F.lit("no_generation")),
                                                  F.col("_p.reason")))
            .withColumnRenamed("text", "raw_response_text")
            .withColumnRenamed("prompt_hash", "response_prompt_hash")
            .withColumnRenamed("completion_tokens", "response_tokens")
            .drop("_p", "conversation", "prompt_tokens"))
