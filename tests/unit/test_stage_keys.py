"""Store keys: equal where a point's stage reads equal config and inputs, different where it does not; a
stage that reads a config key it does not declare is refused (its key would not change with it)."""

import pytest

from fanno_spark.config import load_config
from fanno_spark.pipeline import build_plan
from fanno_spark.runner import UndeclaredConfig, _Reads
from fanno_spark.stage_keys import read_values, stage_keys

PRESCREEN = ["docs", "docs_scored", "docs_dedup", "docs_kept", "passages", "docs_vec", "edges", "communities",
             "docs_selected"]


def keys(*sets: str) -> dict[str, str]:
    cfg = load_config("conf/local.yaml", ["augment.rounds=0", *sets], check_input=False)
    return stage_keys(cfg, build_plan(cfg))


def differing(a: dict, b: dict) -> set[str]:
    return {k for k in a if a[k] != b.get(k)}


def test_a_temperature_change_shares_the_prescreen_and_nothing_generated():
    a, b = keys("llm.temperature=0.3"), keys("llm.temperature=0.7")
    assert set(PRESCREEN) <= set(a) and "final" not in a  # a point's dataset stays in its run dir
    assert differing(a, b) == {"instructions_r0", "pairs_r0"}


def test_a_filter_change_keeps_the_prescreen_and_changes_what_follows_the_instructions():
    a, b = keys("filter.max_similarity=0.9"), keys("filter.max_similarity=0.8")
    assert differing(a, b) == {"instructions_r0", "pairs_r0"}


def test_a_graph_change_starts_at_the_edges():
    a, b = keys("graph.cosine_threshold=0.5"), keys("graph.cosine_threshold=0.6")
    assert differing(a, b) == {"edges", "communities", "docs_selected", "instructions_r0", "pairs_r0"}


def test_a_passage_size_change_starts_at_the_passages():
    a, b = keys("segment.max_tokens=512"), keys("segment.max_tokens=1024")
    assert differing(a, b) == set(PRESCREEN[4:]) | {"instructions_r0", "pairs_r0"}


def test_resume_safe_keys_never_change_a_key():
    assert keys("llm.batch_size=2", "llm.commit_every=5") == keys()


def test_stages_with_driver_state_and_all_after_them_are_not_keyed():
    cfg = load_config("conf/local.yaml", ["augment.rounds=1"], check_input=False)
    k = stage_keys(cfg, build_plan(cfg))
    assert {"instructions_r0", "pairs_r0"} <= set(k)
    assert not {"ucb_update_r0", "ucb_pick_r1", "instructions_r1", "pairs_r1", "final", "export"} & set(k)


@pytest.mark.parametrize("sets", [[], ["judge.enabled=true", "doc_judge.enabled=true"], ["respond.mode=rag"]])
def test_every_declared_read_names_a_config_key(sets):
    cfg = load_config("conf/local.yaml", sets, check_input=False)
    for st in build_plan(cfg):
        read_values(cfg, st.reads)  # raises on a name that is no key


def test_a_read_outside_the_declared_keys_is_refused():
    cfg = load_config("conf/local.yaml", check_input=False)
    seen = _Reads(cfg, ("graph", "pii.types"), "edges")
    assert seen.graph is cfg.graph
    assert seen.pii.types == cfg.pii.types
    with pytest.raises(UndeclaredConfig, match="stage edges reads config pii.documents"):
        _ = seen.pii.documents
    with pytest.raises(UndeclaredConfig, match="stage edges reads config llm"):
        _ = seen.llm
