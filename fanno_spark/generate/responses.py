"""Responses as one LLM task: the direct mode (the instruction, its input below it, as FANNO's q2a) and the
RAG mode (the instruction with its document and that document's nearest neighbour), and the parser."""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ..llm.task import STRING, LLMTask, fields
from ..prompts.doc_budget import DocBudget
from . import prompts


@dataclass(frozen=True)
class ResponseTask(LLMTask):
    """Rows: kept instructions (+ _doc, _nb in RAG mode: see rag_rows)."""

    rag: bool = False
    budget: DocBudget | None = None
    style: str = "fanno"

    parsed_fields = fields([("output", STRING)])
    consumed = ("_doc", "_nb")

    def conversations(self, row):
        if self.rag:
            yield {}, prompts.respond_rag_conversation(row["instruction"], row["_doc"], row["_nb"], self.budget,
                                                       row.get("input"), self.style)
        else:
            yield {}, prompts.respond_conversation(row["instruction"], row.get("input"), self.style)

    def parse(self, text, finish_reason, logprobs, row):
        output, reason = prompts.parse_response(text, finish_reason)
        return {"output": output}, reason


def direct_rows(instructions: DataFrame) -> DataFrame:
    return instructions.withColumn("rag_neighbour_id", F.lit(None).cast("string"))


def rag_rows(instructions: DataFrame, docs: DataFrame, neighbours: DataFrame) -> DataFrame:
    """instructions + _doc (their document) and _nb (its nearest neighbour in the similarity graph). docs(id,
    text) must hold every kept document (a neighbour need not be a selected one); `rag_neighbour_id` records
    which neighbour was used (null: the document has no edge)."""
    texts = docs.select("id", "text")
    return (instructions
            .join(neighbours.select(F.col("id").alias("doc_id"), F.col("neighbour_id").alias("rag_neighbour_id")),
                  "doc_id", "left")
            .join(texts.select(F.col("id").alias("doc_id"), F.col("text").alias("_doc")), "doc_id", "left")
            .join(texts.select(F.col("id").alias("rag_neighbour_id"), F.col("text").alias("_nb")),
                  "rag_neighbour_id", "left"))


def as_pairs(parsed: DataFrame) -> DataFrame:
    """The parsed answers under the pair's column names."""
    return (parsed.withColumnRenamed("text", "raw_response_text")
            .withColumnRenamed("prompt_hash", "response_prompt_hash")
            .withColumnRenamed("completion_tokens", "response_tokens")
            .drop("conversation", "prompt_tokens"))
