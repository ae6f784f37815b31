"""Responses: prompts for the direct and the RAG mode (document + nearest neighbour), and the parser."""

from __future__ import annotations

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ..llm.engine import Sampling
from ..prompts.doc_budget import DocBudget
from . import prompts
from .instruction_prompts import prompt_key


@F.pandas_udf(prompts.PARSED)
def _parse_response_udf(text: pd.Series, finish: pd.Series) -> pd.DataFrame:
    parsed = [prompts.parse_response(t, f) for t, f in zip(text, finish, strict=True)]
    return pd.DataFrame({"value": [p[0] for p in parsed], "reason": [p[1] for p in parsed]})


def _input_col(df: DataFrame):
    return F.col("input") if "input" in df.columns else F.lit(None).cast("string")


def response_prompts(instructions: DataFrame, model: str, sampling: Sampling, style: str = "fanno") -> DataFrame:
    """Direct mode: the instruction (with its input below it, as FANNO's q2a)."""
    conv = F.udf(lambda i, x: prompts.respond_conversation(i, x, style), T.StringType())
    phash = F.udf(lambda c: prompt_key(model, sampling, c), T.StringType())
    return instructions.withColumn("conversation", conv("instruction", _input_col(instructions))).withColumn(
        "prompt_hash", phash("conversation"))


def rag_response_prompts(instructions: DataFrame, docs: DataFrame, neighbours: DataFrame, model: str,
                         sampling: Sampling, budget: DocBudget | None, style: str = "fanno") -> DataFrame:
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
    conv = F.udf(lambda i, x, d, n: prompts.respond_rag_conversation(i, d, n, budget, x, style),
                 T.StringType())
    phash = F.udf(lambda c: prompt_key(model, sampling, c), T.StringType())
    return (ctx.withColumn("conversation", conv("instruction", _input_col(ctx), "_doc", "_nb")).drop("_doc", "_nb")
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
