"""The engine spec is derived from the `llm` config section: every setting both share reaches the engine."""

import dataclasses

from fanno_spark.config import load_config
from fanno_spark.llm.types import EngineSpec, engine_spec


def test_every_shared_setting_reaches_the_spec():
    llm = load_config("conf/local.yaml").llm
    shared = {f.name for f in dataclasses.fields(EngineSpec)} & set(type(llm).model_fields) - {"model"}
    assert {"max_model_len", "dtype", "seed", "concurrency", "max_retries"} <= shared
    changed = llm.model_copy(update=dict(max_model_len=7777, dtype="float32", seed=9, concurrency=3, max_retries=1,
                                         request_timeout_s=12.5, threads=2))
    spec = engine_spec(changed, "/models/x")
    assert (spec.kind, spec.model) == ("vllm", "/models/x")
    assert all(getattr(spec, name) == getattr(changed, name) for name in shared)
    assert (spec.max_model_len, spec.dtype, spec.threads) == (7777, "float32", 2)


def test_spec_defaults_are_the_config_defaults():
    """A spec built by hand (tests, bench) gets the same settings a config without an `llm` section would."""
    llm_fields = type(load_config("conf/local.yaml").llm).model_fields
    spec_defaults = {f.name: f.default for f in dataclasses.fields(EngineSpec) if f.default is not dataclasses.MISSING}
    shared = spec_defaults.keys() & llm_fields.keys()
    assert len(shared) >= 10
    assert {name: spec_defaults[name] for name in shared} == {name: llm_fields[name].default for name in shared}
