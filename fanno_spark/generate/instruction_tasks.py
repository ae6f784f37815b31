"""Instruction generation as two LLM tasks: seed prompts (a document x sampled tags) and augmentation prompts
(a document x the UCB's few-shot picks). Both parse with the same verdict (instruction_filter.py)."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import FilterConfig
from ..llm.task import STRING, STRINGS, LLMTask, fields
from ..prompts.doc_budget import DocBudget
from . import prompts
from .instruction_filter import instruction_verdict
from .tags import sample_tags

TAGS = ("task_type", "difficulty", "style")


@dataclass(frozen=True)
class InstructionTask(LLMTask):
    """Rows: doc_id, text, community (+ fewshot_ids, fewshot_texts when augmenting)."""

    filter: FilterConfig
    tag_seed: int
    budget: DocBudget | None
    style: str = "fanno"

    prompt_fields = fields([*((t, STRING) for t in TAGS), ("fewshot_ids", STRINGS), ("fewshot_texts", STRINGS)])
    parsed_fields = fields([("instruction", STRING), ("input", STRING)])
    consumed = ("text",)

    def parse(self, text, finish_reason, logprobs, row):
        example = prompts.template("compact_seed_example_answer.txt")  # the compact one-shot, parroted back
        avoid = [example, *(row.get("fewshot_texts") if row.get("fewshot_texts") is not None else ())]
        instruction, input_text, reason = instruction_verdict(text, finish_reason, avoid, self.filter)
        return {"instruction": instruction, "input": input_text}, reason


@dataclass(frozen=True)
class SeedTask(InstructionTask):
    """One prompt per sampled tag combination of a document (all 96 at tags.prompts_per_doc = 96)."""

    prompts_per_doc: int = 1

    def conversations(self, row):
        for tags in sample_tags(row["doc_id"], self.prompts_per_doc, self.tag_seed, salt="seed"):
            yield ({**tags, "fewshot_ids": [], "fewshot_texts": []},
                   prompts.seed_conversation(row["text"], tags, self.budget, self.style))


@dataclass(frozen=True)
class AugmentTask(InstructionTask):
    """One "think different" prompt per document. A prompt carries only the tags it states (FANNO's prompt: the
    style; the compact one: task type and style); the others are null, never a tag the model was not asked for."""

    round_no: int = 1
    parse_inputs = ("fewshot_texts",)
    consumed = ("text", "fewshot_ids", "fewshot_texts")  # re-emitted as prompt fields, in the seed's order

    def conversations(self, row):
        tags = sample_tags(row["doc_id"], 1, self.tag_seed, salt=f"augment-{self.round_no}")[0]
        shots = [str(t) for t in row["fewshot_texts"]]
        stated = {k: (v if k in prompts.AUGMENT_PROMPT_TAGS[self.style] else None) for k, v in tags.items()}
        yield ({**stated, "fewshot_ids": [str(i) for i in row["fewshot_ids"]], "fewshot_texts": shots},
               prompts.augment_conversation(row["text"], shots, tags, self.budget, self.style))
