"""`python -m fanno_spark compare --experiment NAME` (or `--parent RUN_ID`: a sweep's points): runs of
different generation configs side by side.

Writes to --out: compare.md (params that differ + key metrics), compare.csv (the same, one row per
run), metrics.png (one panel per key metric), diversity.png (mean pairwise cosine per round) and
drops.png (rows dropped per reason).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import pandas as pd

# Headline numbers of a run; "sum:" entries add up every metric matching the pattern.
KEY_METRICS = {
    "pairs": "final.pairs",
    "llm_calls_per_pair": "final.llm_calls_per_pair",
    "prompts_sent": "cost.paid.sent",
    "usd_per_pair": "cost.per_pair.usd",
    "engine_s_per_pair": "cost.per_pair.engine_seconds",
    "failed": "cost.total.failed",
    "completion_tokens": r"sum:^[^.]+\.llm_completion_tokens$",
    "stage_seconds": r"sum:^[^.]+\.seconds$",
    "verb_noun_coverage": "report.verb_noun.coverage",
    "unique_verb_nouns": "report.verb_noun.unique_pairs",
    "tag_coverage": "report.tag_coverage",
    "r0_mean_cosine": "report.r0.mean_cosine",
    "r1_mean_cosine": "report.r1.mean_cosine",
}
ROUND_COSINE = re.compile(r"^report\.r(\d+)\.mean_cosine$")
DROPPED = re.compile(r"^(?P<stage>[^.]+)\.dropped\.(?P<reason>.+)$")


class CompareError(RuntimeError):
    pass


def load_runs(tracking_uri: str, experiment: str | None, max_runs: int = 50, run_ids: list[str] | None = None,
              parent_run_id: str | None = None):
    """Finished runs of the experiment, oldest first; with parent_run_id, that sweep's points (its children,
    in point order), in the parent's experiment."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    if parent_run_id is not None:
        try:
            exp_id = client.get_run(parent_run_id).info.experiment_id
        except mlflow.exceptions.MlflowException:
            raise CompareError(f"no run {parent_run_id} at {tracking_uri}") from None
    else:
        exp = client.get_experiment_by_name(experiment)
        if exp is None:
            raise CompareError(f"no experiment named {experiment!r} at {tracking_uri}")
        exp_id = exp.experiment_id
    where = "attributes.status = 'FINISHED'"
    if parent_run_id is not None:
        where += f" and tags.mlflow.parentRunId = '{parent_run_id}'"
    runs = client.search_runs([exp_id], where, max_results=max_runs, order_by=["attributes.start_time ASC"])
    if parent_run_id is not None:  # point order (a resumed point may have started after a later one)
        runs = sorted(runs, key=lambda r: int(r.data.tags.get("fanno.sweep_point", "p0")[1:] or 0))
    else:  # a sweep's parent holds no dataset of its own
        runs = [r for r in runs if r.data.tags.get("fanno.sweep") != "parent"]
    if run_ids:
        runs = [r for r in runs if r.info.run_id in set(run_ids)]
    if not runs:
        raise CompareError(f"{'run ' + parent_run_id if parent_run_id else 'experiment ' + repr(experiment)} has "
                           "no finished runs to compare" + (" among its children" if parent_run_id else ""))
    return runs


def _label(run) -> str:
    name = run.info.run_name or ""
    return f"{name} ({run.info.run_id[:8]})" if name else run.info.run_id[:8]


def _key_metric(metrics: dict[str, float], spec: str) -> float | None:
    if spec.startswith("sum:"):
        pattern = re.compile(spec[4:])
        hits = [v for k, v in metrics.items() if pattern.match(k)]
        return float(sum(hits)) if hits else None
    return metrics.get(spec)


def compare_table(runs) -> tuple[pd.DataFrame, list[str]]:
    """One row per run: params whose values differ between runs, then the key metrics."""
    params = [r.data.params for r in runs]
    keys = sorted({k for p in params for k in p})
    differing = [k for k in keys if len({p.get(k) for p in params}) > 1]
    rows = []
    for run, p in zip(runs, params, strict=True):
        row = {"run": _label(run)}
        row.update({k: p.get(k) for k in differing})
        row.update({name: _key_metric(run.data.metrics, spec) for name, spec in KEY_METRICS.items()})
        rows.append(row)
    return pd.DataFrame(rows), differing


def _markdown(df: pd.DataFrame) -> str:
    def cell(v):
        if v is None or (isinstance(v, float) and pd.isna(v)):
            return "–"
        return f"{v:.3g}" if isinstance(v, float) else str(v).replace("|", "\\|")
    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def _plots(df: pd.DataFrame, runs, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [k for k in KEY_METRICS if df[k].notna().any()]
    cols = 3
    rows = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        ax.bar(range(len(df)), df[name].fillna(0.0), color=plt.cm.tab10.colors[: len(df)])
        ax.set_title(name, fontsize=9)
        ax.set_xticks(range(len(df)), [str(i + 1) for i in range(len(df))])
    for ax in list(axes.flat)[len(names):]:
        ax.set_axis_off()
    fig.suptitle("key metrics per run: " + "; ".join(f"{i + 1} = {r}" for i, r in enumerate(df["run"])), fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "metrics.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4))
    for i, run in enumerate(runs):
        pts = sorted((int(m.group(1)), v) for k, v in run.data.metrics.items() if (m := ROUND_COSINE.match(k)))
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f"{i + 1}: {df['run'][i]}")
    ax.set_xlabel("augmentation round")
    ax.set_ylabel("mean pairwise cosine (lower = more diverse)")
    ax.set_title("instruction diversity per round")
    if ax.lines:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "diversity.png", dpi=110)
    plt.close(fig)

    drops = drop_table(runs)
    fig, ax = plt.subplots(figsize=(8, 4))
    bottom = [0.0] * len(runs)
    for j, reason in enumerate(drops.columns):
        ax.bar(range(len(runs)), drops[reason], bottom=bottom, label=reason, color=plt.cm.tab20.colors[j % 20])
        bottom = [b + v for b, v in zip(bottom, drops[reason], strict=True)]
    ax.set_xticks(range(len(runs)), [str(i + 1) for i in range(len(runs))])
    ax.set_ylabel("rows dropped")
    ax.set_title("drops per reason (stage: reason)")
    if len(drops.columns):
        ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(out / "drops.png", dpi=110)
    plt.close(fig)
    return [out / "metrics.png", out / "diversity.png", out / "drops.png"]


def drop_table(runs) -> pd.DataFrame:
    """Rows dropped per `stage: reason`, one row per run (0 where a run has no such drop)."""
    rows = [{f"{m['stage']}: {m['reason']}": v for k, v in run.data.metrics.items() if (m := DROPPED.match(k))}
            for run in runs]
    return pd.DataFrame(rows).fillna(0.0).reindex(sorted({c for r in rows for c in r}), axis=1)


def compare(tracking_uri: str, experiment: str | None, out: Path, max_runs: int = 50,
            run_ids: list[str] | None = None, parent_run_id: str | None = None
            ) -> tuple[pd.DataFrame, list[str], list[Path]]:
    runs = load_runs(tracking_uri, experiment, max_runs, run_ids, parent_run_id)
    df, differing = compare_table(runs)
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "compare.csv", index=False)
    title = f"sweep {parent_run_id}" if parent_run_id else experiment
    drops = drop_table(runs)
    drops.insert(0, "run", list(df["run"]))
    (out / "compare.md").write_text(
        f"# {title}: {len(df)} runs\n\nParams that differ: {', '.join(differing) or 'none'}\n\n"
        + _markdown(df) + "\n\n## Rows dropped per reason\n\n" + _markdown(drops) + "\n")
    return df, differing, _plots(df, runs, out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="fanno_spark compare", description=__doc__.splitlines()[0])
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--experiment", help="every finished run of this experiment")
    which.add_argument("--parent", default=None, metavar="RUN_ID", help="a sweep's parent run: its points")
    p.add_argument("--tracking-uri", default=None,
                   help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite:///runs/local/mlflow.db)")
    p.add_argument("--out", default="runs/compare", help="folder for compare.md/.csv and the plots")
    p.add_argument("--max-runs", type=int, default=50)
    p.add_argument("--run-id", dest="run_ids", action="append", default=None, help="only these runs; repeatable")
    args = p.parse_args(argv)
    import os

    uri = args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or \
        f"sqlite:///{Path('runs/local/mlflow.db').resolve()}"
    try:
        df, _, plots = compare(uri, args.experiment, Path(args.out), args.max_runs, args.run_ids, args.parent)
    except CompareError as exc:
        print(f"compare: {exc}", file=sys.stderr)
        return 2
    print(_markdown(df))
    print(f"written: {Path(args.out) / 'compare.md'}, compare.csv, " + ", ".join(p.name for p in plots))
    return 0
