"""An LLM stage's own part as a value (distilabel's format_input / format_output): which prompts a row makes,
the sampling they run with, and what an answer parses into. Everything else an LLM stage does (prompt frame,
cache key, generation, parsing, drop_reason) is the generic stage's (llm/stage.py), the same for every task."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pyspark.sql import types as T

from .types import Conversation, Sampling

Row = Mapping[str, Any]


def fields(ddl: Iterable[tuple[str, T.DataType]]) -> tuple[T.StructField, ...]:
    return tuple(T.StructField(name, kind) for name, kind in ddl)


STRING, DOUBLE, STRINGS = T.StringType(), T.DoubleType(), T.ArrayType(T.StringType())


@dataclass(frozen=True)
class LLMTask:
    """Subclasses set `stage` and `sampling` as fields and override `conversations` and `parse`."""

    stage: str  # the plan stage it runs in: its LLM metrics and the cache rows it pays for carry this name
    sampling: Sampling

    # columns each prompt adds to its row, and columns `parse` adds to each answer
    prompt_fields: ClassVar[tuple[T.StructField, ...]] = ()
    parsed_fields: ClassVar[tuple[T.StructField, ...]] = ()
    # row columns a prompt reads but does not carry on (a document's text is not copied into every answer)
    consumed: ClassVar[tuple[str, ...]] = ()
    # row columns `parse` reads besides the answer itself
    parse_inputs: ClassVar[tuple[str, ...]] = ()

    def conversations(self, row: Row) -> Iterable[tuple[dict[str, Any], Conversation]]:
        """The prompts of one row: (the values of `prompt_fields`, the conversation) each."""
        raise NotImplementedError

    def parse(self, text: str, finish_reason: str | None, logprobs: str | None,
              row: Row) -> tuple[dict[str, Any], str | None]:
        """A generated text (never null: a missing answer is the generic stage's `no_generation`) -> the values
        of `parsed_fields`, and a drop reason or None."""
        raise NotImplementedError
