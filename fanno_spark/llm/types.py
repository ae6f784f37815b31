"""What every engine shares: the conversation, sampling, generation and spec types, the engine protocol, the
prompt-cache key. Nothing here imports an engine."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, fields
from typing import Protocol

Conversation = list[dict[str, str]]


@dataclass(frozen=True)
class Sampling:
    """How one stage samples. With only max_tokens it is greedy; a stage takes the run's settings through
    `of(llm, …)`, a judge reads a distribution through `greedy(…)`: those are the two places a stage's
    sampling comes from, and the generic LLM stage keys the cache with the very object it generates with."""

    max_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    logprobs: int = 0  # > 0: return the top-k log-probabilities of the first generated token

    @classmethod
    def of(cls, llm, max_tokens: int) -> Sampling:
        """The run's sampling (the `llm` config section) at a stage's max_tokens."""
        return cls(max_tokens=max_tokens, temperature=llm.temperature, top_p=llm.top_p, seed=llm.seed)

    @classmethod
    def greedy(cls, max_tokens: int, logprobs: int = 0) -> Sampling:
        """Judges: the most likely tokens and their log-probabilities, whatever the run samples with."""
        return cls(max_tokens=max_tokens, temperature=0.0, top_p=1.0, seed=0, logprobs=logprobs)


@dataclass(frozen=True)
class Generation:
    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    logprobs: dict[str, float] | None = None  # first token: decoded text -> log-probability


@dataclass
class Occupancy:
    """How full an engine ran over one stream: sequences running per engine step, summed; steps; the most."""

    steps: int = 0
    running: int = 0
    peak: int = 0

    def record(self, running: int) -> None:
        self.steps += 1
        self.running += running
        self.peak = max(self.peak, running)


@dataclass(frozen=True)
class EngineSpec:
    """Everything needed to build an engine in a worker; picklable and hashable (the cache key)."""

    kind: str
    model: str
    dtype: str = "auto"  # resolved where the engine loads (llm/precision.py)
    max_model_len: int = 4096
    enforce_eager: bool = True
    gpu_memory_utilization: float = 0.85
    tensor_parallel_size: int = 1
    threads: int = 0
    seed: int = 0
    # openai (server) engine; the API key itself is never part of the spec, only the variable's name
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 8
    request_timeout_s: float = 300.0
    max_retries: int = 5
    backoff_s: float = 1.0
    backoff_max_s: float = 60.0


def engine_spec(llm, model: str) -> EngineSpec:
    """The spec from the `llm` config section: every field both share is copied by name (kind from `engine`,
    `model` the resolved path), so a setting added to one and not the other is never silently defaulted."""
    shared = {f.name for f in fields(EngineSpec)} & set(type(llm).model_fields) - {"model"}
    return EngineSpec(kind=llm.engine, model=model, **{name: getattr(llm, name) for name in shared})


class LLMEngine(Protocol):
    """`generate` answers a list in order. An engine that can also `stream(items, sampling, occupancy)`
    ((key, conversation) in, (key, generation) out as each finishes, keeping its queue full) is streamed."""

    def load(self) -> None: ...
    def generate(self, conversations: list[Conversation], sampling: Sampling) -> list[Generation]: ...
    def close(self) -> None: ...


def prompt_hash(model: str, sampling: Sampling, conversation: Conversation) -> str:
    """Cache key: the same prompt under the same model and sampling is never generated twice.

    The engine's precision (llm.dtype, resolved per executor) is deliberately not part of it: it is
    only known where the engine loads, after the key is needed, and bf16 vs float32 of one model is
    noise of the same kind as batch composition (vLLM is not batch-invariant), so a resume on a
    machine of another CPU kind must not re-send what it already paid for. Each cached answer records
    the dtype it was generated in (cache column `dtype`)."""
    params = asdict(sampling)
    if not params["logprobs"]:  # added later: leave the keys of plain prompts unchanged
        del params["logprobs"]
    payload = json.dumps({"model": model, "sampling": params, "conversation": conversation},
                         sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def token_mass(logprobs_json: str | None) -> dict[str, float]:
    """Cached first-token log-probs JSON -> {stripped, lower-cased token: summed probability}.
    Junk (bad JSON, non-numbers, NaN) is skipped; a log-prob > 0 is clamped instead of overflowing."""
    try:
        lps = json.loads(logprobs_json) if logprobs_json else None
    except (TypeError, ValueError):
        return {}
    if not isinstance(lps, dict):
        return {}
    mass: dict[str, float] = {}
    for token, lp in lps.items():
        if not isinstance(lp, (int, float)) or isinstance(lp, bool) or math.isnan(lp):
            continue
        t = token.strip().lower()
        mass[t] = mass.get(t, 0.0) + math.exp(min(float(lp), 0.0))
    return mass
