"""The run's data report: report/*.png + report/report.json, metrics under `report.`."""

from __future__ import annotations

import json
import math
from pathlib import Path

from pyspark.sql import DataFrame

from ..config import EmbedConfig, ReportConfig
from . import plots, stats


def build_report(final: DataFrame, out_dir: Path, cfg: ReportConfig, embed_cfg: EmbedConfig,
                 model_path: str, near_duplicate_threshold: float = 0.9) -> tuple[dict[str, float], list[Path]]:
    out_dir.mkdir(parents=True, exist_ok=True)
    instr = stats.length_histogram(final, "instruction", cfg.length_bin_words, cfg.length_cap_words)
    resp = stats.length_histogram(final, "output", cfg.length_bin_words, cfg.length_cap_words)
    vn, covered = stats.verb_noun_counts(final)
    tags = stats.tag_counts(final)
    per_round = stats.diversity_per_round(final, embed_cfg, model_path, cfg.diversity_sample)
    pngs = [
        plots.lengths(instr, resp, cfg.length_bin_words, cfg.length_cap_words, out_dir / "lengths.png"),
        plots.verb_nouns(vn, covered, cfg.top_verb_nouns, out_dir / "verb_noun.png"),
        plots.tag_coverage(tags, out_dir / "tag_coverage.png"),
        plots.diversity(per_round, out_dir / "diversity.png"),
    ]
    metrics = {"report.verb_noun.coverage": covered, "report.verb_noun.unique_pairs": float(len(vn)),
               "report.verb_noun.unique_verbs": float(vn["verb"].nunique()),
               "report.tag_coverage": float((tags["count"] > 0).mean()),
               "report.near_duplicate_share": stats.near_duplicate_share(per_round.attrs.get("all_vectors", []),
                                                                         near_duplicate_threshold),
               **stats.quality_shares(final)}
    for row in per_round.itertuples():
        for col in ("distinct_1", "distinct_2", "mean_cosine", "max_cosine"):
            value = getattr(row, col)
            if value is not None and not math.isnan(value):
                metrics[f"report.r{int(row.round)}.{col}"] = float(value)
    tables = {"instruction_words": instr.to_dict("records"), "response_words": resp.to_dict("records"),
              "verb_noun_top": vn.head(cfg.top_verb_nouns).to_dict("records"),
              "tags": tags.to_dict("records"), "diversity_per_round": per_round.to_dict("records"),
              "metrics": metrics}
    (out_dir / "report.json").write_text(json.dumps(tables, indent=1, default=float))
    return metrics, pngs
