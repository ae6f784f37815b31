"""A new sqlite MLflow store is copied from an empty store this MLflow version migrated once; what MLflow
then reads from it is what a store it built itself would hold."""

import sqlite3

from fanno_spark.tracking import Tracker


def test_new_stores_come_from_the_migrated_template(tmp_path, monkeypatch):
    import mlflow

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    template = tmp_path / "home" / ".cache" / "fanno-spark" / f"mlflow-{mlflow.__version__}-empty.db"
    runs = []
    for name in ("first", "second"):  # the first builds the template, the second copies it
        db = tmp_path / name / "mlflow.db"
        t = Tracker(f"sqlite:///{db}", "exp")
        t.log_metrics({"a.rows": 3})
        t.log_metrics({"a.rows": 4, "b.kept": 1})
        assert mlflow.MlflowClient().get_run(t.run_id).data.metrics == {}  # buffered until the stage ends
        t.end()
        runs.append((db, t.run_id))
        assert template.exists()
    with sqlite3.connect(template) as con:  # schema only: MLflow adds its Default experiment per store
        assert con.execute("SELECT count(*) FROM experiments").fetchone()[0] == 0
    for db, run_id in runs:
        client = mlflow.MlflowClient(f"sqlite:///{db}")
        assert client.get_run(run_id).data.metrics == {"a.rows": 4.0, "b.kept": 1.0}
        default = client.get_experiment("0")
        assert default.name == "Default" and default.artifact_location == str(tmp_path / "mlruns" / "0")
        assert client.get_experiment_by_name("exp").artifact_location.startswith(str(tmp_path / "mlruns"))
