"""Command line: `python -m fanno_spark` and `spark-submit jobs/fanno.py` share this entry point.

Everything that can be wrong with the config is reported before Spark starts.
"""

from __future__ import annotations

import argparse
import logging
import sys

from .config import ConfigError, load_config
from .pipeline import NothingToGenerate, UnknownStage, check_until
from .redact import RedactingFilter, redact


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fanno_spark", description="FANNO instruction-data pipeline on Spark")
    p.add_argument("--config", default=None, help="YAML config (default: built-in local defaults)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="dotted.key=value",
                   help="override one config value; repeatable")
    p.add_argument("--until", default=None, metavar="STAGE",
                   help="stop after this stage (a name of the plan the job prints; checked before Spark starts)")
    p.add_argument("--output", default=None, help="run directory (overrides output.dir)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in an existing run dir (completed stages and answered prompts are reused)")
    return p


def check_run_dir(run_dir, cfg, resume: bool, fs=None) -> str | None:
    """A one-line reason the job must not start in run_dir, or None. Call with the run dir locked."""
    import yaml

    from .config import resume_drift
    from .fs import LocalFS, display, join
    from .runlock import completed_stages

    fs = fs or LocalFS()
    done = completed_stages(run_dir, fs)
    if done and not resume:
        return (f"run dir {display(str(run_dir))} already holds a run ({len(done)} stages complete, last {done[-1]}); "
                f"pass --resume to continue it, or choose another --output")
    saved = join(str(run_dir), "config.yaml")
    if resume and done and fs.exists(saved):
        drift = resume_drift(yaml.safe_load(fs.read_text(saved)) or {}, cfg)
        if drift:
            return (f"cannot resume {display(str(run_dir))}: the config differs from the run's saved config.yaml in "
                    f"{', '.join(drift)} (a resumed run would mix two datasets); use another --output")
    return None


def summary(metrics: dict[str, float]) -> str:
    """End-of-job table: LLM work per stage, then rows dropped per stage and reason."""
    stages = sorted({k.split(".")[0] for k in metrics if k.endswith(".llm_prompts")}, key=lambda s: (s[-1], s))
    cols = ("prompts", "cached", "sent", "prompt_tokens", "completion_tokens")
    lines = [f"{'LLM stage':<16}" + "".join(f"{c:>18}" for c in cols) + f"{'dropped':>8}{'kept':>8}"]
    for st in stages:
        failed = sum(v for k, v in metrics.items() if k.startswith(f"{st}.dropped."))
        kept = metrics.get(f"{st}.kept")
        lines.append(f"{st:<16}" + "".join(f"{int(metrics.get(f'{st}.llm_{c}', 0)):>18}" for c in cols)
                     + f"{int(failed):>8}" + (f"{int(kept):>8}" if kept is not None else f"{'-':>8}"))
    drops = sorted((k, v) for k, v in metrics.items() if ".dropped." in k)
    lines += [f"dropped {k.replace('.dropped.', ': ')} = {int(v)}" for k, v in drops]
    if "final.llm_calls_per_pair" in metrics:
        lines.append(f"LLM calls per final pair: {metrics['final.llm_calls_per_pair']:.2f}")
    quality = [(k, v) for k, v in sorted(metrics.items()) if k.startswith("report.") and not k.startswith("report.r")]
    rounds = [(k, v) for k, v in sorted(metrics.items()) if k.startswith("report.r") and k.split(".")[1][1:].isdigit()
              and k.endswith(("mean_cosine", "max_cosine"))]
    if quality:
        lines.append("data quality: " + ", ".join(f"{k.removeprefix('report.')} {v:.3f}" for k, v in quality + rounds))
    return "\n".join(lines)


def _exits() -> tuple[tuple[type[Exception], str, int], ...]:
    """How each expected failure ends the command: (kind, prefix of its one line, exit code)."""
    from .io.readers import InputError
    from .runlock import RunDirLocked
    from .spark_env import UnsupportedCompute

    return ((ConfigError, "config error", 2), (UnknownStage, "error", 2), (InputError, "input error", 2),
            (UnsupportedCompute, "error", 2), (RunDirLocked, "error", 2), (NothingToGenerate, "error", 3))


def storage_failure(exc: BaseException) -> str | None:
    """A Spark/Hadoop call that failed on the store (a java.io.IOException at the root of the Java cause chain:
    a DataNode or an S3 endpoint gone past Hadoop's retries), as one line; None for any other failure."""
    java = getattr(exc, "java_exception", None)
    if java is None:
        return None
    root, seen = None, 0
    while java is not None and seen < 32:
        name = java.getClass().getName()
        if name.startswith(("java.io.", "org.apache.hadoop.", "com.amazonaws.")) or "IOException" in name:
            root = java
        java, seen = java.getCause(), seen + 1
    if root is None:
        return None
    message = (root.getMessage() or "").splitlines()[0] if root.getMessage() else ""
    return f"{root.getClass().getName()}: {message}"[:500]


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stdout)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())
    for noisy in ("py4j", "vllm", "mlflow", "alembic", "urllib3", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def run_guarded(go) -> int:
    """Run a command (the job, a sweep): each expected failure ends it with one line and its exit code."""
    setup_logging()
    exits = _exits()
    try:
        return go()
    except tuple(kind for kind, _, _ in exits) as exc:
        prefix, code = next((prefix, code) for kind, prefix, code in exits if isinstance(exc, kind))
        print(f"{prefix}: {redact(str(exc))}", file=sys.stderr)
        return code
    except Exception as exc:
        line = storage_failure(exc)
        if line is None:
            raise
        logging.getLogger("fanno_spark").debug("storage failure", exc_info=True)
        print(f"storage error: {redact(line)} (the run dir keeps every completed stage: rerun with --resume "
              "once the store answers)", file=sys.stderr)
        return 4


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)

    def go() -> int:
        cfg = load_config(args.config, args.overrides, args.output)
        check_until(cfg, args.until)
        from .config import input_on_driver_disk
        from .io.preflight import check_input

        if input_on_driver_disk(cfg):
            check_input(cfg.input)  # before Spark starts
        return _run(cfg, args)

    return run_guarded(go)


def _run(cfg, args) -> int:
    from .config import input_on_driver_disk
    from .fs import HadoopFS, display
    from .io.preflight import check_remote_input
    from .pipeline import run_job
    from .run_page import description, run_name
    from .runlock import run_lock
    from .spark_env import build_spark
    from .tracking import Tracker, default_uri

    spark = build_spark(cfg)
    fs = HadoopFS(spark)
    if not input_on_driver_disk(cfg):
        check_remote_input(cfg.input, fs)  # through the cluster's filesystem, before any stage
    # A path without a scheme means what Spark means by it: the default filesystem.
    run_dir = fs.qualify(cfg.output.dir)
    with run_lock(run_dir, log=logging.getLogger("fanno_spark").warning, fs=fs):
        problem = check_run_dir(run_dir, cfg, args.resume, fs)
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return 2
        spark.sparkContext.setCheckpointDir(f"{run_dir.rstrip('/')}/_checkpoints")
        # "resumed" is tagged by the job itself, only when it reuses stages of an earlier run
        tracker = Tracker(cfg.tracking.uri or default_uri(run_dir), cfg.tracking.experiment, run_name(cfg, run_dir),
                          tags={"run_dir": run_dir})
        status = "FAILED"
        try:
            result = run_job(spark, cfg, run_dir, fs, tracker, until=args.until)
            status = "FINISHED"
        finally:
            if status == "FINISHED":
                tracker.set_tag("mlflow.note.content", description(result.metrics))
            tracker.end(status)
    print(summary(result.metrics))
    if result.final_dir is not None:
        print(f"dataset: {display(result.final_dir)}/alpaca.json ({result.pairs} pairs); "
              f"parquet: {display(run_dir.rstrip('/') + '/final')}")
    else:
        print(f"stopped after --until {args.until}; run dir: {display(run_dir)}")
    print(f"mlflow run: {result.run_id} (tracking uri {redact(tracker.uri)})")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
