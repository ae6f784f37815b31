"""Instruction prompts as DataFrames: seed prompts (a document x sampled tags) and augmentation prompts
(a document x the UCB's few-shot picks), each row keyed by its prompt-cache hash."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ..llm.engine import Sampling, prompt_hash
from ..prompts.doc_budget import DocBudget
from . import prompts
from .tags import sample_tags

PROMPT_SCHEMA = ("doc_id string, community string, task_type string, difficulty string, style string, "
                 "fewshot_ids array<string>, fewshot_texts array<string>, prompt_hash string, conversation string")

PROMPT_COLUMNS = [c.split()[0] for c in PROMPT_SCHEMA.split(", ")]


def prompt_key(model: str, sampling: Sampling, conversation_json: str) -> str:
    return prompt_hash(model, sampling, json.loads(conversation_json))


def seed_prompts(docs: DataFrame, model: str, sampling: Sampling, prompts_per_doc: int, seed: int,
                 budget: DocBudget | None, style: str = "fanno") -> DataFrame:
    """docs(id, text, community) -> one seed prompt per sampled tag combination (all 96 at 96)."""

    def build(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for pdf in batches:
            rows = []
            for doc in pdf.itertuples(index=False):
                for tags in sample_tags(doc.id, prompts_per_doc, seed, salt="seed"):
                    conv = prompts.seed_conversation(doc.text, tags, budget, style)
                    rows.append({"doc_id": doc.id, "community": doc.community, **tags,
                                 "fewshot_ids": [], "fewshot_texts": [],
                                 "prompt_hash": prompt_key(model, sampling, conv), "conversation": conv})
            yield pd.DataFrame(rows, columns=PROMPT_COLUMNS)

    return docs.select("id", "text", "community").mapInPandas(build, PROMPT_SCHEMA)


def augment_prompts(docs: DataFrame, picks: DataFrame, model: str, sampling: Sampling, round_no: int,
                    seed: int, budget: DocBudget | None, style: str = "fanno") -> DataFrame:
    """docs + picks(doc_id, fewshot_ids, fewshot_texts) -> one "think different" prompt per document. A row
    carries only the tags its prompt states (FANNO's prompt: the style; the compact one: task type and style);
    the others are null, never a tag the model was not asked for."""
    # The driver's UCB picks travel to the executors as a broadcast (one small row per document).
    joined = docs.select(F.col("id").alias("doc_id"), "text", "community").join(F.broadcast(picks), "doc_id")

    def build(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for pdf in batches:
            rows = []
            for doc in pdf.itertuples(index=False):
                tags = sample_tags(doc.doc_id, 1, seed, salt=f"augment-{round_no}")[0]
                conv = prompts.augment_conversation(doc.text, list(doc.fewshot_texts), tags, budget, style)
                stated = {k: (v if k in prompts.AUGMENT_PROMPT_TAGS[style] else None) for k, v in tags.items()}
                rows.append({"doc_id": doc.doc_id, "community": doc.community, **stated,
                             "fewshot_ids": list(doc.fewshot_ids), "fewshot_texts": list(doc.fewshot_texts),
                             "prompt_hash": prompt_key(model, sampling, conv), "conversation": conv})
            yield pd.DataFrame(rows, columns=PROMPT_COLUMNS)

    return joined.mapInPandas(build, PROMPT_SCHEMA)
