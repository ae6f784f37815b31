"""export/README.md: a Hugging Face dataset card (YAML header + markdown, the template card.md.j2) written with
every run.

Every number comes from the run's metrics (the same dict as metrics.json and MLflow); the header also
carries them under `fanno_spark:` so a program can read the card without parsing markdown.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import Any

import jinja2
import yaml

from ..config import FannoConfig
from . import ledger
from .decontam import benchmark_name

SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                   (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"))
QUALITY_SHARES = (("report.input_share", "pairs with an `input` (the material the instruction works on)"),
                  ("report.request_share", "instructions that are a question or a command"),
                  ("report.source_reference_share", "instructions pointing at a source the reader cannot see"))


def size_category(n: int) -> str:
    return next((label for limit, label in SIZE_CATEGORIES if n < limit), "n>100M")


def _n(metrics: dict[str, float], key: str) -> int:
    return int(metrics.get(key, 0))


def _rounds(metrics: dict[str, float]) -> list[int]:
    return sorted({int(m.group(1)) for k in metrics if (m := re.match(r"instructions_r(\d+)\.rows$", k))})


def _with(metrics: dict[str, float], prefix: str) -> dict[str, int]:
    return {k[len(prefix):]: int(v) for k, v in sorted(metrics.items()) if k.startswith(prefix)}


def funnel(metrics: dict[str, float], judged: bool) -> dict[str, Any]:
    """documents read -> kept -> selected -> instructions -> pairs, with drops per reason."""
    rounds = _rounds(metrics)
    pairs_stage = "judged" if judged else "pairs"
    drops: dict[str, int] = {}
    for r in rounds:
        for stage in ("instructions", "pairs", "judged"):
            for reason, n in _with(metrics, f"{stage}_r{r}.dropped.").items():
                drops[f"{stage}.{reason}"] = drops.get(f"{stage}.{reason}", 0) + n
    return {
        "documents_read": _n(metrics, "docs.rows"),
        "documents_kept": _n(metrics, "docs_kept.rows"),
        "documents_dropped": _with(metrics, "prescreen.dropped."),
        "documents_selected": _n(metrics, "docs_selected.rows"),
        "instructions_generated": sum(_n(metrics, f"instructions_r{r}.rows") for r in rounds),
        "instructions_kept": sum(_n(metrics, f"instructions_r{r}.kept") for r in rounds),
        "pairs_valid": sum(_n(metrics, f"{pairs_stage}_r{r}.kept") for r in rounds),
        "pairs_contaminated": _n(metrics, "decontaminated.dropped.contaminated"),
        "pairs_published": _n(metrics, "final.pairs"),
        "generation_dropped": dict(sorted(drops.items())),
    }


def llm_usage(metrics: dict[str, float]) -> dict[str, int]:
    keys = ("llm_prompts", "llm_sent", "llm_cached", "llm_prompt_tokens", "llm_completion_tokens")
    return {k.removeprefix("llm_"): int(sum(v for m, v in metrics.items() if m.endswith("." + k))) for k in keys}


@cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined, autoescape=False)  # markdown, not HTML
    return env.from_string(resources.files(__package__).joinpath("card.md.j2").read_text(encoding="utf-8"))


def render(cfg: FannoConfig, metrics: dict[str, float], info: dict[str, str], *, run_id: str | None,
           tracking_uri: str | None, run_dir: str, plots: list[str], lineage: dict[str, dict]) -> str:
    pairs = _n(metrics, "final.pairs")
    rounds = _rounds(metrics)
    fun = funnel(metrics, cfg.judge.enabled)
    usage = llm_usage(metrics)
    pii = _with(metrics, "pii.")
    contam = {k.removeprefix("decontam."): int(v) for k, v in sorted(metrics.items())
              if k.startswith(("decontam.pairs.", "decontam.documents.", "decontam.benchmark."))}
    header = {
        "pretty_name": cfg.card.pretty_name,
        "license": cfg.card.license,
        "language": list(cfg.card.language),
        "task_categories": ["text-generation"],
        "tags": ["synthetic", "instruction-tuning", "fanno", "fanno-spark"],
        "size_categories": [size_category(pairs)],
        "configs": [{"config_name": "default", "data_files": [{"split": "train", "path": "alpaca.json"}]}],
        "fanno_spark": {"run_id": run_id, "model": cfg.llm.model, "rounds": len(rounds), "pairs": pairs,
                        "funnel": fun, "llm": usage, "pii_masked": pii, "decontamination": contam,
                        "input": lineage.get("input"), "output": lineage.get("output")},
    }
    valid = "judged" if cfg.judge.enabled else "pairs"
    names = [benchmark_name(p) for p in cfg.decontam.benchmarks]
    per_pair = {f: metrics[f"cost.per_pair.{f}"] for f in ("prompts", "tokens", "engine_seconds", "usd")} \
        if "cost.per_pair.usd" in metrics else None
    passages = {k: _n(metrics, f"passages.{m}") for k, m in (("split", "documents_split"), ("whole", "documents_whole"),
                                                            ("median", "median_tokens"), ("longest", "longest_tokens"))}
    return _template().render(
        passages=passages, cost_rows=ledger.table(metrics), per_pair=per_pair, paid_sent=metrics.get("cost.paid.sent", 0),
        total_sent=metrics.get("cost.total.sent", 0),
        cfg=cfg, header=yaml.safe_dump(header, sort_keys=False, allow_unicode=True).rstrip(), pairs=pairs,
        dtype=info.get("llm.dtype_resolved") or cfg.llm.dtype, rounds=rounds, fun=fun, usage=usage,
        source=(lineage.get("input") or {}).get("source", cfg.input.path), corpus=lineage.get("input"),
        listing=lambda d: ", ".join(f"{k} {v}" for k, v in d.items()) or "none",
        shares=[(label, metrics[key]) for key, label in QUALITY_SHARES if key in metrics],
        per_round=[{"round": r, "instructions": _n(metrics, f"instructions_r{r}.rows"),
                    "kept": _n(metrics, f"instructions_r{r}.kept"), "pairs": _n(metrics, f"pairs_r{r}.rows"),
                    "valid": _n(metrics, f"{valid}_r{r}.kept")} for r in rounds],
        calls_per_pair=metrics.get("final.llm_calls_per_pair"),
        benchmarks=[{"name": b, "prompts": contam.get(f"benchmark.{b}.prompts", 0),
                     "too_short": contam.get(f"benchmark.{b}.too_short", 0), "pairs": contam.get(f"pairs.{b}", 0),
                     "documents": contam.get(f"documents.{b}")} for b in names],
        pii_where=[x for x, on in (("documents before any prompt", cfg.pii.documents),
                                   ("generated text before export", cfg.pii.generated)) if on],
        pii_rows=[(scope, [pii.get(f"{scope}.{t}", 0) for t in cfg.pii.types]) for scope in ("documents", "generated")
                  if any(k.startswith(scope + ".") for k in pii)],
        quality={k.removeprefix("report."): round(float(v), 4) for k, v in sorted(metrics.items())
                 if k.startswith("report.")},
        plots=plots, run_id=run_id, tracking_uri=tracking_uri, run_dir=run_dir)
