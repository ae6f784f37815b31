"""output.format: delta on a real Delta Lake (delta-spark): `final` is a Delta table whose first commit is
the stage's completion marker; a killed write (data files, no commit) runs again; a committed one is never
written twice; output.table registers it in the session's catalog."""

import pytest

from fanno_spark.fs import LocalFS
from fanno_spark.publish import tables
from fanno_spark.rundir import RunDir
from fanno_spark.runlock import completed_stages

pytestmark = pytest.mark.spark


def test_final_as_a_delta_table_commits_once_and_registers(spark, tmp_path):
    fs = LocalFS()
    root = fs.qualify(str(tmp_path / "run"))
    rd = RunDir(root, spark, fs, log=lambda _: None, delta=frozenset({"final"}))
    # a write killed before its commit: data files, an empty _delta_log
    (tmp_path / "run" / "final" / "_delta_log").mkdir(parents=True)
    (tmp_path / "run" / "final" / "part-00000-killed.parquet").write_bytes(b"PAR1 half a file")
    assert not rd.done("final")
    built = []
    out = rd.stage("final", lambda: built.append(1) or spark.range(5).withColumnRenamed("id", "n"))
    assert sorted(r.n for r in out.collect()) == [0, 1, 2, 3, 4] and built == [1]
    assert rd.done("final") and tables.version(spark, rd.uri("final")) == 0
    assert not (tmp_path / "run" / "final" / "part-00000-killed.parquet").exists()
    assert "final" in completed_stages(root, fs)
    # resumed: the commit is the marker; nothing is built or committed again
    again = RunDir(root, spark, fs, log=lambda _: None, delta=frozenset({"final"}))
    assert again.stage("final", lambda: built.append(2) or spark.range(1)).count() == 5 and built == [1]
    assert tables.version(spark, rd.uri("final")) == 0
    assert tables.register(spark, "fanno_pairs_test", rd.uri("final")) == "fanno_pairs_test"
    assert spark.table("fanno_pairs_test").count() == 5
    tables.register(spark, "fanno_pairs_test", rd.uri("final"))  # idempotent
    other = fs.qualify(str(tmp_path / "other"))
    spark.range(2).write.format("delta").save(other)
    with pytest.raises(ValueError, match=r"output.table: fanno_pairs_test already exists over .*run/final"):
        tables.register(spark, "fanno_pairs_test", other)
    spark.sql("DROP TABLE fanno_pairs_test")


def test_a_parquet_session_reads_parquet_stages(spark, tmp_path):
    """Without `delta`, a stage folder is Parquet with _SUCCESS, as before."""
    fs = LocalFS()
    rd = RunDir(fs.qualify(str(tmp_path)), spark, fs, log=lambda _: None)
    rd.stage("final", lambda: spark.range(3))
    assert (tmp_path / "final" / "_SUCCESS").exists() and not (tmp_path / "final" / "_delta_log").exists()

