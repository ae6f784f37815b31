"""The cost ledger: per LLM stage, per run and per accepted pair, what the generation asked and spent. Rejected
and failed generations are in it (they were paid). Two scopes:

- `cost.total.*`: what the dataset cost to make, every LLM stage it rests on, whoever computed it (a stage a
  sweep's other point computed, or an earlier attempt of this run, counts with its own numbers);
- `cost.paid.*`: what this process paid: the stages it computed, prompts answered from the cache excluded.
  Summed over a sweep's points it is the sweep's bill; a resumed run never pays a stage twice.

Money is an estimate from the `cost` section: engine time at `cost.gpu_hour_usd` on GPU executors
(llm.gpu_per_task > 0) or `cost.cpu_hour_usd` elsewhere; tokens at `cost.per_million_tokens` for an
OpenAI-compatible endpoint (llm.engine: openai), which bills tokens, not our engine time."""

from __future__ import annotations

FIELDS = ("prompts", "cached", "sent", "failed", "retried", "failed_tasks", "prompt_tokens", "completion_tokens",
          "engine_seconds")


def llm_stages(metrics: dict[str, float]) -> list[str]:
    return sorted(k[: -len(".llm_prompts")] for k in metrics if k.endswith(".llm_prompts"))


def stage_usd(metrics: dict[str, float], stage: str, cfg) -> float:
    if cfg.llm.engine == "openai":
        tokens = metrics.get(f"{stage}.llm_prompt_tokens", 0) + metrics.get(f"{stage}.llm_completion_tokens", 0)
        return tokens / 1e6 * cfg.cost.per_million_tokens
    rate = cfg.cost.gpu_hour_usd if cfg.llm.gpu_per_task > 0 else cfg.cost.cpu_hour_usd
    return metrics.get(f"{stage}.llm_engine_seconds", 0) / 3600 * rate


def ledger(metrics: dict[str, float], cfg, computed: set[str]) -> dict[str, float]:
    """The cost.* numbers (and <stage>.cost_usd) from the stages' llm_* metrics."""
    out: dict[str, float] = {}
    stages = llm_stages(metrics)
    gpu = cfg.llm.gpu_per_task > 0 and cfg.llm.engine != "openai"
    for st in stages:
        out[f"{st}.cost_usd"] = stage_usd(metrics, st, cfg)
    for scope, names in (("total", stages), ("paid", [s for s in stages if s in computed])):
        for f in FIELDS:
            out[f"cost.{scope}.{f}"] = float(sum(metrics.get(f"{s}.llm_{f}", 0) for s in names))
        hours = out[f"cost.{scope}.engine_seconds"] / 3600
        out[f"cost.{scope}.engine_hours"] = hours
        out[f"cost.{scope}.gpu_hours"] = hours if gpu else 0.0
        out[f"cost.{scope}.usd"] = float(sum(out[f"{s}.cost_usd"] for s in names))
    pairs = metrics.get("final.pairs")
    if pairs:
        for f in ("prompts", "sent", "engine_seconds", "usd"):
            out[f"cost.per_pair.{f}"] = out[f"cost.total.{f}"] / pairs
        out["cost.per_pair.tokens"] = (out["cost.total.prompt_tokens"] + out["cost.total.completion_tokens"]) / pairs
    return out


def record(ctx) -> None:
    """The ledger into the run's metrics (metrics.json, MLflow): called before the card and as the run ends."""
    for k, v in ledger(ctx.metrics, ctx.cfg, set(ctx.rd.timings)).items():
        ctx.metric(k, v)


def table(metrics: dict[str, float]) -> list[dict]:
    """Rows of the card's cost table: one per LLM stage, then the dataset's total."""
    rows = []
    for st in [*llm_stages(metrics), None]:
        get = (lambda f, st=st: metrics.get(f"{st}.llm_{f}", 0)) if st else (lambda f: metrics.get(f"cost.total.{f}", 0))
        rows.append({"stage": st or "**total**", **{f: get(f) for f in FIELDS},
                     "usd": metrics.get(f"{st}.cost_usd" if st else "cost.total.usd", 0)})
    return rows
