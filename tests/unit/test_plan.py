"""The declarative plan: stage names and order per config, --until checked against it (before Spark),
and the README's stage table kept equal to it."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from fanno_spark.config import load_config
from fanno_spark.pipeline import UnknownStage, build_plan, check_until, disabled_stages, plan_line
from fanno_spark.runner import PlanError, Stage, check_plan

ROOT = Path(__file__).resolve().parents[2]


def cfg(*overrides):
    return load_config("conf/local.yaml", list(overrides))


CONFIGS = {
    "judges off, 1 round": cfg(),
    "judges on, 2 rounds": cfg("doc_judge.enabled=true", "judge.enabled=true", "augment.rounds=2",
                               "decontam.benchmarks=[data/sample/pydocs.jsonl.gz]", "decontam.documents=true"),
}


def test_default_plan_reads_as_the_fanno_flow():
    assert plan_line(cfg()) == (
        "docs -> docs_scored -> docs_dedup -> docs_kept -> passages -> docs_vec -> edges -> communities -> docs_selected -> "
        "instructions_r0 -> pairs_r0 -> ucb_update_r0 -> ucb_pick_r1 -> instructions_r1 -> pairs_r1 -> "
        "ucb_update_r1 -> final -> data_report -> export -> card")
    full = [s.name for s in build_plan(CONFIGS["judges on, 2 rounds"])]
    assert full[3:6] == ["docs_judged", "docs_decontaminated", "docs_kept"]
    assert full[-10:] == ["ucb_pick_r2", "instructions_r2", "pairs_r2", "judged_r2", "ucb_update_r2", "decontaminated",
                          "final", "data_report", "export", "card"]
    assert plan_line(cfg("report.enabled=false")).endswith("-> final -> export -> card")
    files = {s.name for s in build_plan(cfg()) if s.files}
    assert files == {"data_report", "export", "card"}  # written files with a marker, seen by --until and resume


def test_a_plan_whose_input_nobody_produces_is_refused_before_spark():
    def build(ctx):
        raise AssertionError("never built")

    with pytest.raises(PlanError, match="stage b: reads c, which no earlier stage produces"):
        check_plan([Stage("a", (), build, "a"), Stage("b", ("a", "c"), build, "b")])
    with pytest.raises(PlanError, match="stage a: named twice"):
        check_plan([Stage("a", (), build, "a"), Stage("a", (), build, "a again")])
    for plan in map(build_plan, CONFIGS.values()):
        check_plan(plan)  # the real plans pass


@pytest.mark.parametrize("name", list(CONFIGS))
def test_every_stage_reads_only_earlier_stages_and_every_name_is_a_valid_until(name):
    plan = build_plan(CONFIGS[name])
    seen = set()
    for st in plan:
        assert st.name not in seen
        assert set(st.inputs) <= seen, (st.name, st.inputs)
        seen.add(st.name)
        check_until(CONFIGS[name], st.name)  # no error
    assert not set(disabled_stages(CONFIGS[name])) & seen


@pytest.mark.parametrize("until, config, message", [
    ("docs_judged", cfg(), r"that stage is off in this config \(doc_judge.enabled: false\)"),
    ("judged_r0", cfg(), r"that stage is off in this config \(judge.enabled: false\)"),
    ("decontaminated", cfg(), r"that stage is off in this config \(decontam.benchmarks: \[\]\)"),
    ("docs_decontaminated", cfg("decontam.benchmarks=[conf/local.yaml]"),
     r"off in this config \(decontam.documents: false\)"),
    ("instructions_r3", cfg(), r"this config runs rounds 0\.\.1 \(augment.rounds\)"),
    ("ucb_pick_r0", cfg(), r"this config runs rounds 0\.\.1"),
    ("pairs", cfg(), r"unknown stage; this config's stages: docs, docs_scored"),
    ("data_report", cfg("report.enabled=false"), r"that stage is off in this config \(report.enabled: false\)"),
])
def test_until_outside_the_plan_is_one_line(until, config, message):
    with pytest.raises(UnknownStage, match=message):
        check_until(config, until)


def test_cli_refuses_a_disabled_until_before_spark_starts(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "fanno_spark", "--config", "conf/local.yaml", "--output",
                           str(tmp_path / "r"), "--until", "docs_judged"], cwd=ROOT, text=True,
                          capture_output=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: --until docs_judged: that stage is off in this config (doc_judge.enabled: false)"]
    assert not (tmp_path / "r").exists()


def test_readme_stage_table_matches_the_plan():
    text = (ROOT / "README.md").read_text()
    table = text.split("| stage (folder in the run dir) |", 1)[1].split("\n\n", 1)[0]
    listed = []
    for line in table.splitlines()[2:]:
        listed += re.findall(r"`([a-z_0-9N]+)`", line.split("|")[1])
    plan = [s.name for s in build_plan(CONFIGS["judges on, 2 rounds"])]
    general = list(dict.fromkeys(re.sub(r"_r[1-9]\d*$", "_rN", n) for n in plan))
    assert listed == general
