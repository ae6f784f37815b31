"""augment.target_pairs: augmentation stops once that many valid pairs exist (fake engine, real Spark);
the real model runs the rounds in tests/e2e/test_job.py."""

import pandas as pd
import pytest

from fanno_spark.config import load_config
from fanno_spark.fs import HadoopFS
from fanno_spark.pipeline import run_job

pytestmark = pytest.mark.spark
SMALL = ["llm.engine=fanno_doubles:FakeEngine", "llm.model=fake", "input.max_docs=40", "sample.max_docs=6", "seeds.docs=2",
         "tags.prompts_per_doc=3", "augment.window=2", "augment.rounds=3", "report.enabled=false"]


def test_augmentation_stops_at_the_target(spark, tmp_path, caplog):
    fs = HadoopFS(spark)
    run = tmp_path / "target"
    cfg = load_config("conf/local.yaml", [*SMALL, "augment.target_pairs=1"])
    with caplog.at_level("INFO", logger="fanno_spark"):
        result = run_job(spark, cfg, fs.qualify(str(run)), fs, None)
    assert result.final_dir is not None
    r0 = pd.read_parquet(run / "pairs_r0")
    assert r0["drop_reason"].isna().sum() >= 1
    assert "target of 1 pairs reached after round 0" in caplog.text
    assert not (run / "instructions_r1").exists()
    assert set(pd.read_parquet(run / "final")["round"]) == {0}
