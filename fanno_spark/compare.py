"""`python -m fanno_spark compare --experiment NAME`: runs of different generation configs side by side.

Writes to --out: compare.md (params that differ + key metrics), compare.csv (the same, one row per
run), metrics.png (one panel per key metric) and diversity.png (mean pairwise cosine per round).
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
    "completion_tokens": r"sum:^[^.]+\.llm_completion_tokens$",
    "stage_seconds": r"sum:^[^.]+\.seconds$",
    "verb_noun_coverage": "report.verb_noun.coverage",
    "unique_verb_nouns": "report.verb_noun.unique_pairs",
    "tag_coverage": "report.tag_coverage",
    "r0_mean_cosine": "report.r0.mean_cosine",
    "r1_mean_cosine": "report.r1.mean_cosine",
}
ROUND_COSINE = re.compile(r"^report\.r(\d+)\.mean_cosine$")


class CompareError(RuntimeError):
    pass


def load_runs(tracking_uri: str, experiment: str, max_runs: int = 50, run_ids: list[str] | None = None):
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        raise CompareError(f"no experiment named {experiment!r} at {tracking_uri}")
    runs = client.search_runs([exp.experiment_id], "attributes.status = 'FINISHED'", max_results=max_runs,
                              order_by=["attributes.start_time ASC"])
    if run_ids:
        runs = [r for r in runs if r.info.run_id in set(run_ids)]
    if not runs:
        raise CompareError(f"experiment {experiment!r} has no finished runs to compare")
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
    return [out / "metrics.png", out / "diversity.png"]


def compare(tracking_uri: str, experiment: str, out: Path, max_runs: int = 50,
            run_ids: list[str] | None = None) -> tuple[pd.DataFrame, list[str], list[Path]]:
    runs = load_runs(tracking_uri, experiment, max_runs, run_ids)
    df, differing = compare_table(runs)
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "compare.csv", index=False)
    (out / "compare.md").write_text(
        f"# {experiment}: {len(df)} runs\n\nParams that differ: {', '.join(differing) or 'none'}\n\n"
        + _markdown(df) + "\n")
    return df, differing, _plots(df, runs, out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="fanno_spark compare", description=__doc__.splitlines()[0])
    p.add_argument("--experiment", required=True)
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
        df, _, plots = compare(uri, args.experiment, Path(args.out), args.max_runs, args.run_ids)
    except CompareError as exc:
        print(f"compare: {exc}", file=sys.stderr)
        return 2
    print(_markdown(df))
    print(f"written: {Path(args.out) / 'compare.md'}, compare.csv, " + ", ".join(p.name for p in plots))
    return 0
