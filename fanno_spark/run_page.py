"""What an MLflow run page says about the run: a name from the config (not MLflow's random pair of words), a
description with the funnel from documents to pairs and what the LLM stages spent, read from the same
numbers as metrics.json."""

from __future__ import annotations

from .config import FannoConfig


def run_name(cfg: FannoConfig, run_dir: str) -> str:
    """tracking.run_name, else the run dir's name and the generation settings users compare runs by."""
    if cfg.tracking.run_name:
        return cfg.tracking.run_name
    model = cfg.llm.model.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]  # bundled:x, hf ids, paths
    rounds = cfg.augment.rounds
    return (f"{run_dir.rstrip('/').rsplit('/', 1)[-1]} · {model} · T={cfg.llm.temperature:g} · "
            f"{rounds} round{'s' if rounds != 1 else ''} · {cfg.respond.mode}")


def _n(metrics: dict, key: str) -> str:
    v = metrics.get(key)
    return "–" if v is None else f"{int(v):,}"


def description(metrics: dict[str, float]) -> str:
    """Markdown for the run's description (MLflow's `mlflow.note.content` tag)."""
    rounds = sorted({int(k.split("_r")[1].split(".")[0]) for k in metrics
                     if k.startswith("pairs_r") and k.endswith(".rows")})
    steps = [("documents read", _n(metrics, "docs.rows")), ("kept by the pre-screen", _n(metrics, "docs_kept.rows")),
             ("selected (communities)", _n(metrics, "docs_selected.rows"))]
    steps += [(f"round {r}: valid pairs", _n(metrics, f"pairs_r{r}.kept")) for r in rounds]
    steps.append(("**pairs in the dataset**", f"**{_n(metrics, 'final.pairs')}**"))
    stages = sorted(k[: -len(".llm_prompts")] for k in metrics if k.endswith(".llm_prompts"))

    def total(field: str) -> float:
        return sum(metrics.get(f"{s}.llm_{field}", 0) for s in stages)

    per_pair = metrics.get("final.llm_calls_per_pair")
    lines = ["**fanno-spark run**", "", "| funnel | |", "|---|---:|", *[f"| {a} | {b} |" for a, b in steps], "",
             f"LLM: {int(total('prompts')):,} prompts ({int(total('cached')):,} from the cache, "
             f"{int(total('sent')):,} sent) over {len(stages)} stages; {int(total('prompt_tokens')):,} prompt + "
             f"{int(total('completion_tokens')):,} completion tokens; {total('engine_seconds'):,.0f} s in the engine"
             + (f"; {per_pair:.2f} LLM calls per pair." if per_pair else ".")]
    if "cost.total.usd" in metrics:
        shared = int(metrics.get("cost.total.sent", 0) - metrics.get("cost.paid.sent", 0))
        lines.append(f"Cost: ${metrics['cost.total.usd']:,.4f} estimated ({metrics.get('cost.total.gpu_hours', 0):.3f} "
                     f"GPU-hours, {int(metrics.get('cost.total.failed', 0))} failed answers)"
                     + (f", ${metrics['cost.per_pair.usd']:.5f} per pair" if "cost.per_pair.usd" in metrics else "")
                     + (f"; {shared:,} of the prompts sent were paid by an earlier attempt or another sweep point"
                        if shared else "") + ".")
    return "\n".join(lines)
