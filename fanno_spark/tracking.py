"""MLflow: one run per job; params = resolved config, metrics = per-stage counts and tokens."""

from __future__ import annotations

import logging
import os
import re
import shutil
import sqlite3
from pathlib import Path
from typing import Any

from .redact import redact

# A config leaf that would hold a secret itself (the config only names env variables, e.g.
# llm.api_key_env, so nothing should match; this is the belt to those braces). Not "max_tokens".
SECRET = re.compile(r"(?i)(^|[._])(api_?key|secret|password|token|access_key|credentials?)$")


class Tracker:
    def __init__(self, uri: str, experiment: str, run_name: str | None = None, tags: dict | None = None,
                 nested: bool = False, run_id: str | None = None):
        """nested: a child of the active run (a sweep's point under the sweep's parent run); run_id: reopen
        that run (a resumed sweep keeps its parent and the child of an unfinished point)."""
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        import mlflow

        self.mlflow = mlflow
        seed_sqlite_store(uri)
        mlflow.set_tracking_uri(uri)
        mlflow.set_experiment(experiment)
        if run_id is not None:
            self.run = mlflow.start_run(run_id=run_id, nested=nested)
            if tags:
                mlflow.set_tags(tags)
        else:
            self.run = mlflow.start_run(run_name=run_name, tags=tags or {}, nested=nested)
        self.run_id = self.run.info.run_id
        self.uri = uri
        self._pending: dict[str, float] = {}

    def flush(self) -> None:
        """Send the buffered metrics in one request (the runner flushes after every stage)."""
        if self._pending:
            self.mlflow.log_metrics(self._pending)
            self._pending = {}

    def log_params(self, flat: dict[str, Any]) -> None:
        params = {k: ("***" if SECRET.search(k) else redact(str(v)))[:6000] for k, v in flat.items()}
        self.mlflow.log_params(params)

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        """Buffered until flush(): one batch per stage instead of one request per number (the job logs ~100)."""
        clean = {re.sub(r"[^\w./ -]", "_", k): float(v) for k, v in metrics.items() if v is not None}
        if step is None:
            self._pending.update(clean)
        elif clean:
            self.flush()
            self.mlflow.log_metrics(clean, step=step)

    def log_text(self, text: str, artifact_file: str) -> None:
        """A small artifact from memory (no local file needed: the run dir may be remote)."""
        self.mlflow.log_text(text, artifact_file)

    def set_tag(self, key: str, value: str) -> None:
        self.mlflow.set_tag(key, redact(str(value))[:5000])

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        self.mlflow.log_artifact(str(path), artifact_path=artifact_path)

    def end(self, status: str = "FINISHED") -> None:
        self.flush()  # a failed job's numbers so far land too
        self.mlflow.end_run(status=status)


def seed_sqlite_store(uri: str) -> None:
    """A new sqlite store starts as a copy of an empty one already migrated by this MLflow version (kept in
    ~/.cache/fanno-spark): MLflow's migrations take 4-6 s on every fresh store, i.e. every embedded run.
    The copy holds the schema only; MLflow adds its Default experiment itself, with this run's paths."""
    if not uri.startswith("sqlite:///") or "?" in uri:
        return
    target = Path(uri[len("sqlite:///"):])
    if target.exists():
        return
    try:
        import mlflow
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        template = Path.home() / ".cache" / "fanno-spark" / f"mlflow-{mlflow.__version__}-empty.db"
        if not template.exists():
            template.parent.mkdir(parents=True, exist_ok=True)
            tmp = template.with_name(f"{template.name}.{os.getpid()}.tmp")
            tmp.unlink(missing_ok=True)
            SqlAlchemyStore(f"sqlite:///{tmp}", str(tmp.parent / "mlruns")).engine.dispose()
            with sqlite3.connect(tmp) as db:
                db.execute("DELETE FROM experiments")
            os.replace(tmp, template)  # atomic: concurrent jobs never copy a half-built template
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template, target)
    except Exception as e:  # noqa: BLE001 - only a speed-up: MLflow builds the store itself
        logging.getLogger("fanno_spark").warning("empty MLflow store template not used: %s", e)


def default_uri(run_dir: str) -> str:
    """sqlite inside a local run dir; for a remote run dir (sqlite cannot live on an object store)
    MLFLOW_TRACKING_URI when set (Databricks sets it), else ./mlflow.db where the driver runs."""
    from .fs import is_local, local_path

    if is_local(run_dir):
        return f"sqlite:///{(local_path(run_dir) / 'mlflow.db').resolve()}"
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path('mlflow.db').resolve()}"
