"""PNG plots of the report tables (matplotlib, Agg backend: no display on executors or CI)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def lengths(instr: pd.DataFrame, resp: pd.DataFrame, bin_words: int, cap: int, path: Path) -> Path:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, df, name in ((axes[0], instr, "instruction"), (axes[1], resp, "response")):
        ax.bar(df["words"], df["count"], width=bin_words * 0.9, align="edge", color="#4C72B0")
        ax.set_title(f"{name} length ({int(df['count'].sum())} pairs)")
        ax.set_xlabel(f"words (bins of {bin_words}; last bin = {cap}+)")
        ax.set_ylabel("pairs")
    return _save(fig, path)


def verb_nouns(counts: pd.DataFrame, covered: float, top: int, path: Path) -> Path:
    """Top verb–noun pairs, grouped by verb (the FANNO paper's chart as bars)."""
    fig, ax = plt.subplots(figsize=(8, max(3, 0.3 * min(top, len(counts)) + 1)))
    head = counts.head(top).iloc[::-1]
    if head.empty:
        ax.text(0.5, 0.5, "no instruction matched a known verb", ha="center", va="center")
        ax.set_axis_off()
    else:
        verbs = list(dict.fromkeys(head["verb"]))
        colors = plt.cm.tab20(np.linspace(0, 1, max(len(verbs), 2)))
        ax.barh([f"{v} · {n}" for v, n in zip(head["verb"], head["noun"], strict=True)], head["count"],
                color=[colors[verbs.index(v)] for v in head["verb"]])
        ax.set_xlabel("instructions")
    ax.set_title(f"top verb–noun pairs ({covered:.0%} of instructions matched)")
    return _save(fig, path)


def tag_coverage(tags: pd.DataFrame, path: Path) -> Path:
    """Heatmaps task type x difficulty, one per style; empty cells are combinations never produced."""
    styles = list(dict.fromkeys(tags["style"]))
    fig, axes = plt.subplots(1, len(styles), figsize=(4 + 4 * len(styles), 5.5), squeeze=False)
    vmax = max(int(tags["count"].max()), 1)
    for k, (ax, style) in enumerate(zip(axes[0], styles, strict=True)):
        grid = tags[tags["style"] == style].pivot(index="task_type", columns="difficulty", values="count")
        im = ax.imshow(grid.values, cmap="viridis", vmin=0, vmax=vmax, aspect="auto")
        ax.set_xticks(range(grid.shape[1]), grid.columns, rotation=30, ha="right", fontsize=8)
        ax.set_yticks(range(grid.shape[0]), grid.index if k == 0 else [""] * grid.shape[0], fontsize=8)
        for (i, j), v in np.ndenumerate(grid.values):
            ax.text(j, i, int(v), ha="center", va="center", fontsize=7, color="w" if v < vmax / 2 else "k")
        ax.set_title(f"style: {style}")
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label="pairs")
    covered = int((tags["count"] > 0).sum())
    fig.suptitle(f"tag coverage: {covered} of {len(tags)} combinations")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def diversity(per_round: pd.DataFrame, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4))
    x = per_round["round"].astype(int)
    for col, label in (("distinct_1", "distinct-1"), ("distinct_2", "distinct-2"),
                       ("mean_cosine", "mean pairwise cosine (MiniLM)")):
        ax.plot(x, per_round[col], marker="o", label=label)
    for r, n in zip(x, per_round["pairs"], strict=True):
        ax.annotate(f"{n} pairs", (r, 0.02), ha="center", fontsize=8)
    ax.set_xticks(list(x))
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("augmentation round (0 = seeds)")
    ax.set_title("instruction diversity per round")
    ax.legend(fontsize=8)
    return _save(fig, path)
