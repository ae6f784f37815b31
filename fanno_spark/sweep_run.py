"""A sweep's points run one after another in one Spark session, sharing what they can:

    <sweep dir>/sweep.json      the points and the parent MLflow run (a resumed sweep reopens it)
    <sweep dir>/stages/         keyed stage outputs (stage_keys.py), each stored once for every point it serves
    <sweep dir>/llm_cache/      one prompt cache (llm.cache_uri overrides it): an equal prompt is paid once
    <sweep dir>/points/pN/      a point's run dir: its own stages, metrics.json, export/, its child run's id
    <sweep dir>/compare/        the comparison of the points (also the parent run's artifacts)

A finished point is not run again on --resume; an unfinished one resumes in its run dir (its child run reopened),
reading its completed stages and the store's."""

from __future__ import annotations

import json
import logging
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .cli import check_run_dir
from .fs import FileSystem, display, join
from .pipeline import run_job
from .redact import redact
from .run_page import description
from .sweep import Point, varied_params
from .tracking import Tracker

log = logging.getLogger("fanno_spark")


@dataclass
class PointResult:
    point: Point
    run_id: str | None
    pairs: int
    computed: list[str] = field(default_factory=list)
    shared: list[str] = field(default_factory=list)
    sent: int = 0  # prompts this point sent (cost.paid.sent)
    skipped: bool = False  # finished by an earlier attempt of the sweep


class SweepDirTaken(RuntimeError):
    pass


def _state(points: list[Point]) -> list[dict]:
    return [{"point": p.name, "overrides": p.overrides} for p in points]


def _open_sweep(fs: FileSystem, sweep_dir: str, points: list[Point], resume: bool) -> dict:
    """sweep.json: a new sweep's, or (with --resume) the saved one, which must hold the same points."""
    saved = join(sweep_dir, "sweep.json")
    if not fs.exists(saved):
        return {"points": _state(points), "parent_run_id": None}
    state = json.loads(fs.read_text(saved))
    finished = sum(fs.exists(join(sweep_dir, "points", p["point"], "point_done.json")) for p in state["points"])
    if not resume:
        raise SweepDirTaken(f"sweep dir {display(sweep_dir)} already holds a sweep ({finished} of "
                            f"{len(state['points'])} points finished); pass --resume to continue it, or choose "
                            "another --output")
    if json.loads(json.dumps(state["points"], default=str)) != json.loads(json.dumps(_state(points), default=str)):
        raise SweepDirTaken(f"cannot resume {display(sweep_dir)}: its points differ from this grid (see its "
                            "sweep.json); use another --output")
    return state


def run_sweep(spark, fs: FileSystem, sweep_dir: str, points: list[Point], state: dict,
              tracking_uri: str, experiment: str) -> tuple[str, list[PointResult]]:
    """Every point, then the comparison -> (the parent run id, the points' results). `state`: _open_sweep's."""
    common, differ = varied_params(points)
    name = sweep_dir.rstrip("/").rsplit("/", 1)[-1]
    varied = sorted({k for d in differ for k in d})
    parent = Tracker(tracking_uri, experiment, f"{name} · sweep of {len(points)} points ({', '.join(varied)})",
                     tags={"fanno.sweep": "parent", "sweep_dir": sweep_dir}, run_id=state["parent_run_id"])
    if state["parent_run_id"] is None:
        state["parent_run_id"] = parent.run_id
        fs.write_text(join(sweep_dir, "sweep.json"), json.dumps(state, indent=2, default=str))
        parent.log_params(common)
        parent.log_text(redact(yaml.safe_dump({"points": _state(points)}, sort_keys=False)), "sweep.yaml")
    store, cache = join(sweep_dir, "stages"), join(sweep_dir, "llm_cache")
    results: list[PointResult] = []
    status = "FAILED"
    try:
        for point, params in zip(points, differ, strict=True):
            results.append(_run_point(spark, fs, sweep_dir, point, params, len(points),
                                      (tracking_uri, experiment, name), store, cache))
        _log_comparison(parent, fs, sweep_dir, experiment, tracking_uri, results)
        status = "FINISHED"
    finally:
        for k, v in _totals(results).items():
            parent.log_metrics({k: v})
        parent.end(status)
    return parent.run_id, results


def _run_point(spark, fs: FileSystem, sweep_dir: str, point: Point, params: dict, n: int,
               run: tuple[str, str, str], store: str, cache: str) -> PointResult:
    """One point in its run dir (points/pN), under a child run: its keyed stages in the store, its prompts
    through the sweep's cache; point_done.json once it finished."""
    tracking_uri, experiment, name = run
    pdir = join(sweep_dir, "points", point.name)
    done = join(pdir, "point_done.json")
    if fs.exists(done):
        saved = json.loads(fs.read_text(done))
        log.info("sweep point %d/%d (%s): finished by an earlier attempt, skipped", point.index, n, point.label)
        return PointResult(point, saved["run_id"], saved["pairs"], [], [], 0, skipped=True)
    log.info("sweep point %d/%d (%s): run dir %s", point.index, n, point.label, display(pdir))
    problem = check_run_dir(pdir, point.cfg, True, fs)  # a point dir with other settings is never mixed in
    if problem:
        raise SweepDirTaken(problem)
    started = join(pdir, "point.json")
    run_id = json.loads(fs.read_text(started))["run_id"] if fs.exists(started) else None
    child = Tracker(tracking_uri, experiment, f"{name}/{point.name} · {point.label}",
                    tags={"fanno.sweep": "point", "fanno.sweep_point": point.name, "run_dir": pdir},
                    nested=True, run_id=run_id)
    if run_id is None:
        fs.write_text(started, json.dumps({"run_id": child.run_id, "overrides": point.overrides}, default=str))
    status = "FAILED"
    try:
        result = run_job(spark, point.cfg, pdir, fs, child, store=store, cache_uri=cache, params=params)
        child.set_tag("mlflow.note.content", f"**sweep {name}, point {point.index} of {n}**: {point.label}\n\n"
                      + description(result.metrics))
        status = "FINISHED"
    finally:
        child.end(status)
    sent = int(result.metrics.get("cost.paid.sent", 0))
    fs.write_text(done, json.dumps({"run_id": child.run_id, "pairs": result.pairs, "computed": result.computed,
                                    "shared": result.shared, "sent": sent}, indent=2))
    log.info("sweep point %d/%d: %d pairs; %d stages computed, %d shared from the store, %d prompts sent",
             point.index, n, result.pairs, len(result.computed), len(result.shared), sent)
    return PointResult(point, child.run_id, result.pairs, result.computed, result.shared, sent)


def _totals(results: list[PointResult]) -> dict[str, float]:
    return {"sweep.points": len(results), "sweep.points_skipped": sum(r.skipped for r in results),
            "sweep.stages_computed": sum(len(r.computed) for r in results),
            "sweep.stages_shared": sum(len(r.shared) for r in results),
            "sweep.prompts_sent": sum(r.sent for r in results)}


def _log_comparison(parent, fs: FileSystem, sweep_dir: str, experiment: str, tracking_uri: str,
                    results: list[PointResult]) -> None:
    """compare.md/.csv and the plots of every point: the parent run's artifacts (compare/) and <sweep>/compare."""
    from .compare import compare

    with tempfile.TemporaryDirectory(prefix="fanno-compare-") as tmp:
        out = Path(tmp)
        df, _, plots = compare(tracking_uri, experiment, out, parent_run_id=parent.run_id)
        parent.mlflow.log_table(data=df.astype(str), artifact_file="compare/points.json")
        for f in sorted(out.iterdir()):
            parent.log_artifact(f, "compare")
            fs.upload(f, join(sweep_dir, "compare", f.name))
    log.info("sweep comparison: %s (and the parent run's compare/ artifacts)", display(join(sweep_dir, "compare")))


def run_sweep_cli(args, base, points: list[Point]) -> int:
    """The sweep command after validation: Spark, the lock, the points, one summary line."""
    from .fs import HadoopFS
    from .runlock import run_lock
    from .spark_env import build_spark
    from .tracking import default_uri

    spark = build_spark(base)
    fs = HadoopFS(spark)
    sweep_dir = fs.qualify(base.output.dir)
    with run_lock(sweep_dir, log=log.warning, fs=fs):
        spark.sparkContext.setCheckpointDir(join(sweep_dir, "_checkpoints"))
        uri = base.tracking.uri or default_uri(sweep_dir)
        try:
            state = _open_sweep(fs, sweep_dir, points, args.resume)
            parent_id, results = run_sweep(spark, fs, sweep_dir, points, state, uri, base.tracking.experiment)
        except SweepDirTaken as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    totals = _totals(results)
    for r in results:
        print(f"{r.point.name} ({r.point.label}): {r.pairs} pairs"
              + (" (finished earlier)" if r.skipped else f", {len(r.computed)} stages computed, "
                                                         f"{len(r.shared)} shared, {r.sent} prompts sent")
              + f"; mlflow run {r.run_id}")
    print(f"sweep: {len(results)} points, {int(totals['sweep.stages_computed'])} stages computed, "
          f"{int(totals['sweep.stages_shared'])} shared, {int(totals['sweep.prompts_sent'])} prompts sent; "
          f"comparison: {display(join(sweep_dir, 'compare'))}/compare.md")
    print(f"mlflow parent run: {parent_id} (tracking uri {redact(uri)})")
    return 0
