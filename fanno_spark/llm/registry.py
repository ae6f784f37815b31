"""Engine kinds: the two built in, or any engine class named as `package.module:Class` (a plugin; the test
suite's fake engine is one). The class is imported where the engine is built, so executors need only the
module on their path."""

from __future__ import annotations

import importlib
import importlib.util

from .types import EngineSpec, LLMEngine

BUILTIN = {"vllm": "fanno_spark.llm.vllm_engine:VLLMEngine",
           "openai": "fanno_spark.llm.server_engine:OpenAIServerEngine"}


def check_kind(kind: str) -> None:
    """llm.engine names a built-in kind or an importable module:Class; ValueError otherwise (before Spark)."""
    target = BUILTIN.get(kind, kind)
    module, _, cls = target.partition(":")
    if not cls or not module:
        raise ValueError(f"llm.engine: {kind!r} is not one of {', '.join(BUILTIN)} (or package.module:Class)")
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise ValueError(f"llm.engine: module {module} of {kind!r} cannot be imported here")


def make_engine(spec: EngineSpec) -> LLMEngine:
    module, _, cls = BUILTIN.get(spec.kind, spec.kind).partition(":")
    return getattr(importlib.import_module(module), cls)(spec)
