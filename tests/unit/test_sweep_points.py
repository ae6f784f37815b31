"""A sweep's points: grid parsing, validation of every point before Spark starts, the params each run logs."""

import pytest

from fanno_spark.config import ConfigError
from fanno_spark.sweep import build_points, load_sweep, parse_grid, read_sweep_file, varied_params

BASE = "conf/local.yaml"


def test_grid_values_keep_their_yaml_types():
    grid = parse_grid(["llm.temperature=0.3,0.7", "filter.max_similarity=0.9,null", "judge.enabled=true,false",
                       "filter.banned_words=[spam],[spam,eggs]"])
    assert grid == {"llm.temperature": [0.3, 0.7], "filter.max_similarity": [0.9, None],
                    "judge.enabled": [True, False], "filter.banned_words": [["spam"], ["spam", "eggs"]]}


@pytest.mark.parametrize("item", ["llm.temperature", "llm.temperature=", "=0.3"])
def test_a_grid_item_without_values_is_one_line(item):
    with pytest.raises(ConfigError, match="expected dotted.key=value1,value2"):
        parse_grid([item])


def test_points_are_every_combination_validated_whole():
    _, points = build_points(BASE, [], {"llm.temperature": [0.3, 0.7], "augment.rounds": [1, 2]}, [], "runs/x")
    assert [p.overrides for p in points] == [
        {"llm.temperature": 0.3, "augment.rounds": 1}, {"llm.temperature": 0.3, "augment.rounds": 2},
        {"llm.temperature": 0.7, "augment.rounds": 1}, {"llm.temperature": 0.7, "augment.rounds": 2}]
    assert [(p.cfg.llm.temperature, p.cfg.augment.rounds) for p in points] == [(0.3, 1), (0.3, 2), (0.7, 1), (0.7, 2)]
    assert {p.cfg.output.dir for p in points} == {"runs/x"}


def test_a_bad_value_names_its_point_and_the_dotted_key():
    with pytest.raises(ConfigError) as err:
        build_points(BASE, [], {"llm.temperature": [0.3, 5]}, [], None)
    assert str(err.value) == "sweep point 2 (llm.temperature=5): llm.temperature: must be <= 2.0, got 5"


def test_an_unknown_key_in_a_point_is_refused():
    with pytest.raises(ConfigError, match=r"^sweep point 1 \(llm.temprature=0.3\): llm.temprature: unknown key"):
        build_points(BASE, [], {"llm.temprature": [0.3, 0.7]}, [], None)


@pytest.mark.parametrize("key", ["spark.master", "output.dir", "tracking.experiment"])
def test_the_sweeps_own_sections_cannot_vary(key):
    with pytest.raises(ConfigError, match=f"sweep point 1: {key} cannot vary between points"):
        build_points(BASE, [], {key: ["a", "b"]}, [], None)


def test_equal_points_and_single_points_are_refused():
    with pytest.raises(ConfigError, match="the same config as point 1"):
        build_points(BASE, [], {"llm.temperature": [0.3, 0.3]}, [], None)
    with pytest.raises(ConfigError, match="needs at least 2 points"):
        build_points(BASE, [], {"llm.temperature": [0.3]}, [], None)


def test_a_sweep_file_crosses_its_points_with_its_grid(tmp_path):
    f = tmp_path / "sweep.yaml"
    f.write_text("points:\n  - {llm.temperature: 0.3}\n  - llm: {temperature: 0.9}\n    respond: {mode: rag}\n"
                 "grid:\n  filter.max_similarity: [0.9, 0.8]\n")
    grid, listed = read_sweep_file(f)
    assert listed == [{"llm.temperature": 0.3}, {"llm.temperature": 0.9, "respond.mode": "rag"}]
    _, base, points = load_sweep(["--config", BASE, "--sweep", str(f)])
    assert len(points) == 4
    assert points[3].overrides == {"llm.temperature": 0.9, "respond.mode": "rag", "filter.max_similarity": 0.8}


def test_a_sweep_file_with_an_unknown_key_is_one_line(tmp_path):
    f = tmp_path / "sweep.yaml"
    f.write_text("grids: {llm.temperature: [0.3]}\n")
    with pytest.raises(ConfigError, match="unknown key grids"):
        read_sweep_file(f)


def test_child_runs_log_only_what_differs_and_the_parent_the_rest():
    _, points = build_points(BASE, [], {"llm.temperature": [0.3, 0.7], "filter.max_similarity": [0.9, 0.8]}, [],
                             None)
    common, differ = varied_params(points)
    assert all(set(d) == {"llm.temperature", "filter.max_similarity"} for d in differ)
    assert differ[1] == {"filter.max_similarity": 0.8, "llm.temperature": 0.3}
    assert "llm.temperature" not in common and common["llm.model"] == points[0].cfg.llm.model
