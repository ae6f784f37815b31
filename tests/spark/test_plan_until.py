"""--until with every stage name of the plan (all optional stages on): each call runs exactly up to the named
stage (resuming the earlier ones), and the plan's next stage is not started. Fake engine, real Spark. The plan
without the judges is built and checked here, and run whole by the other end-to-end tests."""

import pytest

from fanno_spark.config import load_config
from fanno_spark.fs import HadoopFS
from fanno_spark.pipeline import build_plan, run_job

pytestmark = pytest.mark.spark
SMALL = ["llm.engine=fanno_doubles:FakeEngine", "llm.model=fake", "input.max_docs=40", "sample.max_docs=6", "seeds.docs=2",
         "tags.prompts_per_doc=3", "augment.window=2", "report.enabled=false", "filter.max_similarity=null"]


def _walk(spark, cfg, run_dir, skip=()):
    fs = HadoopFS(spark)
    uri = fs.qualify(str(run_dir))
    stages = build_plan(cfg)
    plan = [s.name for s in stages]

    def written(i):  # a frame stage's folder, a file stage's marker
        st = stages[i]
        return (run_dir / "done" / f"{st.name}.json") if st.files else (run_dir / st.name)

    for i, name in enumerate(plan):
        if name in skip:
            continue
        result = run_job(spark, cfg, uri, fs, None, until=name)
        assert (written(i) if stages[i].files else written(i) / "_SUCCESS").exists(), name
        if i + 1 < len(plan):
            assert not written(i + 1).exists(), (name, plan[i + 1])
            assert result.final_dir is None
    assert (run_dir / "export" / "README.md").exists()  # the card, the last stage
    return plan


def test_until_every_stage(spark, tmp_path):
    bench = tmp_path / "evals.txt"
    bench.write_text("Compose a sonnet about the migration of arctic terns across the southern ocean\n")
    on = load_config("conf/local.yaml", [*SMALL, "doc_judge.enabled=true", "judge.enabled=true",
                                         "judge.min_score=1.0", "augment.rounds=2", f"decontam.benchmarks=[{bench}]",
                                         "decontam.documents=true"])
    plan_on = _walk(spark, on, tmp_path / "on")
    assert {"docs_judged", "ucb_pick_r2", "docs_decontaminated", "decontaminated"} <= set(plan_on)
    # FANNO's windows: the seed documents, then a fresh window of unseen documents per round
    import pandas as pd

    docs = [set(pd.read_parquet(tmp_path / "on" / f"instructions_r{r}")["doc_id"]) for r in range(3)]
    assert [len(d) for d in docs] == [2, 2, 2] and not (docs[0] & docs[1] or docs[0] & docs[2] or docs[1] & docs[2])
    assert len(pd.read_parquet(tmp_path / "on" / "instructions_r0")) == 2 * 3  # seeds.docs x tags.prompts_per_doc
    picks = pd.read_parquet(tmp_path / "on" / "ucb_pick_r2")
    assert set(picks["doc_id"]) == docs[2]
    off = [s.name for s in build_plan(load_config("conf/local.yaml", SMALL))]
    assert "docs_judged" not in off and "judged_r0" not in off and off[-4:] == ["ucb_update_r1", "final", "export", "card"]
    assert [n for n in plan_on if n in off] == off  # the same order, the judges taken out
