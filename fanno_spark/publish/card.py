"""export/README.md: a Hugging Face dataset card (YAML header + markdown) written with every run.

Every number comes from the run's metrics (the same dict as metrics.json and MLflow); the header also
carries them under `fanno_spark:` so a program can read the card without parsing markdown.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from ..config import FannoConfig

SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                   (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"))


def size_category(n: int) -> str:
    return next((label for limit, label in SIZE_CATEGORIES if n < limit), "n>100M")


def _n(metrics: dict[str, float], key: str) -> int:
    return int(metrics.get(key, 0))


def _rounds(metrics: dict[str, float]) -> list[int]:
    return sorted({int(m.group(1)) for k in metrics if (m := re.match(r"instructions_r(\d+)\.rows$", k))})


QUALITY_SHARES = (("report.input_share", "pairs with an `input` (the material the instruction works on)"),
                  ("report.request_share", "instructions that are a question or a command"),
                  ("report.source_reference_share", "instructions pointing at a source the reader cannot see"))


def _dropped(metrics: dict[str, float], prefix: str) -> dict[str, int]:
    return {k[len(prefix):]: int(v) for k, v in sorted(metrics.items()) if k.startswith(prefix)}


def funnel(metrics: dict[str, float], judged: bool) -> dict[str, Any]:
    """documents read -> kept -> selected -> instructions -> pairs, with drops per reason."""
    rounds = _rounds(metrics)
    pairs_stage = "judged" if judged else "pairs"
    out: dict[str, Any] = {
        "documents_read": _n(metrics, "docs.rows"),
        "documents_kept": _n(metrics, "docs_kept.rows"),
        "documents_dropped": _dropped(metrics, "prescreen.dropped."),
        "documents_selected": _n(metrics, "docs_selected.rows"),
        "instructions_generated": sum(_n(metrics, f"instructions_r{r}.rows") for r in rounds),
        "instructions_kept": sum(_n(metrics, f"instructions_r{r}.kept") for r in rounds),
        "pairs_valid": sum(_n(metrics, f"{pairs_stage}_r{r}.kept") for r in rounds),
        "pairs_contaminated": _n(metrics, "decontaminated.dropped.contaminated"),
        "pairs_published": _n(metrics, "final.pairs"),
    }
    drops: dict[str, int] = {}
    for r in rounds:
        for stage in ("instructions", "pairs", "judged"):
            for reason, n in _dropped(metrics, f"{stage}_r{r}.dropped.").items():
                drops[f"{stage}.{reason}"] = drops.get(f"{stage}.{reason}", 0) + n
    out["generation_dropped"] = dict(sorted(drops.items()))
    return out


def llm_usage(metrics: dict[str, float]) -> dict[str, int]:
    keys = ("llm_prompts", "llm_sent", "llm_cached", "llm_prompt_tokens", "llm_completion_tokens")
    return {k.removeprefix("llm_"): int(sum(v for m, v in metrics.items() if m.endswith("." + k))) for k in keys}


def render(cfg: FannoConfig, metrics: dict[str, float], info: dict[str, str], *, run_id: str | None,
           tracking_uri: str | None, run_dir: str, plots: list[str], lineage: dict[str, dict]) -> str:
    pairs = _n(metrics, "final.pairs")
    rounds = _rounds(metrics)
    fun = funnel(metrics, cfg.judge.enabled)
    usage = llm_usage(metrics)
    pii = {k.removeprefix("pii."): int(v) for k, v in sorted(metrics.items()) if k.startswith("pii.")}
    contam = {k.removeprefix("decontam."): int(v) for k, v in sorted(metrics.items())
              if k.startswith(("decontam.pairs.", "decontam.documents.", "decontam.benchmark."))}
    quality = {k.removeprefix("report."): round(float(v), 4) for k, v in sorted(metrics.items())
               if k.startswith("report.")}
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
    dtype = info.get("llm.dtype_resolved") or cfg.llm.dtype
    lines = ["---", yaml.safe_dump(header, sort_keys=False, allow_unicode=True).rstrip(), "---", "",
             f"# {cfg.card.pretty_name}", ""]
    if cfg.card.description:
        lines += [cfg.card.description, ""]
    lines += [
        f"{pairs} instruction-response pairs generated from an unlabeled corpus with the FANNO method "
        "(arXiv 2408.01323) by fanno-spark: documents pre-screened and sampled across communities of a "
        "similarity graph, seed instructions from a tag pool, augmentation rounds whose few-shot examples a UCB "
        f"bandit picks, and responses from the same open model (`{cfg.llm.model}`, {dtype}).", "",
        "## Files", "",
        "- `alpaca.json`: `instruction`, `input`, `output` (Alpaca format)",
        "- `messages.jsonl`: the same pairs as chat messages, with the source document id",
        "- `sample.json`: the first rows with lineage (document, community, tags, round, prompt hashes)",
        "- the run dir's `final/` holds the full table as Parquet", "",
        "## How it was made", "",
        "| setting | value |", "|---|---|",
        f"| input | `{(lineage.get('input') or {}).get('source', cfg.input.path)}` ({cfg.input.format}) |",
        f"| model | `{cfg.llm.model}` (dtype {dtype}), temperature {cfg.llm.temperature}, top_p {cfg.llm.top_p} |",
        f"| prompts | style `{cfg.prompts.style}`: seed, augment, respond ({cfg.respond.mode})"
        + (", pair judge" if cfg.judge.enabled else "") + (", document judge" if cfg.doc_judge.enabled else "")
        + " |",
        f"| pre-screen | Gopher quality / repetition + C4 rules, languages {', '.join(cfg.prescreen.languages) or 'any'}"
        f" (score >= {cfg.prescreen.min_language_score}), MinHash dedup at Jaccard {cfg.dedup.jaccard_threshold} |",
        f"| graph | {cfg.graph.method}, cosine >= {cfg.graph.cosine_threshold}, label propagation "
        f"{cfg.graph.lpa_max_iter} iterations; {cfg.sample.per_community} documents per community, "
        f"at most {cfg.sample.max_docs} |",
        f"| rounds | seeds from {cfg.seeds.docs} documents x {cfg.tags.prompts_per_doc} tag combinations, then "
        f"up to {cfg.augment.rounds} augmentation rounds of {cfg.augment.window} documents "
        f"({len(rounds)} ran), {cfg.augment.fewshot_k} few-shots, UCB c = {cfg.augment.ucb_c} |",
        f"| instruction filter | FANNO rules, diversity: MiniLM cosine < {cfg.filter.max_similarity} "
        f"against the pool |",
        "| documents in prompts | " + (f"at most {cfg.llm.max_doc_tokens} tokens each, " if cfg.llm.max_doc_tokens
                                         else "whole, ") + f"as far as llm.max_model_len {cfg.llm.max_model_len} "
        "allows after the prompt and the stage's max_tokens (a longer one is cut at a token boundary) |",
        f"| judge | {'min score ' + str(cfg.judge.min_score) if cfg.judge.enabled else 'off'} |", "",
        "## Data quality", "",
        "| measure | value |", "|---|---|",
        *[f"| {label} | {metrics[key]:.1%} |" for key, label in QUALITY_SHARES if key in metrics], "",
        "## Funnel", "",
        "| step | rows |", "|---|---|",
        f"| documents read | {fun['documents_read']} |",
        f"| documents kept by the pre-screen | {fun['documents_kept']} |",
        f"| documents selected | {fun['documents_selected']} |",
        f"| instructions generated | {fun['instructions_generated']} |",
        f"| instructions kept | {fun['instructions_kept']} |",
        f"| valid pairs | {fun['pairs_valid']} |",
        f"| pairs dropped as contaminated | {fun['pairs_contaminated']} |",
        f"| pairs published | {fun['pairs_published']} |", "",
        "Documents dropped, by reason: " + (", ".join(f"{k} {v}" for k, v in fun["documents_dropped"].items())
                                            or "none") + ".", "",
        "Generated rows dropped, by stage and reason: "
        + (", ".join(f"{k} {v}" for k, v in fun["generation_dropped"].items()) or "none") + ".", "",
        "## Per round", "",
        "| round | instructions | kept | pairs | valid |", "|---|---|---|---|---|",
        *[f"| {r} | {_n(metrics, f'instructions_r{r}.rows')} | {_n(metrics, f'instructions_r{r}.kept')} | "
          f"{_n(metrics, f'pairs_r{r}.rows')} | "
          f"{_n(metrics, ('judged' if cfg.judge.enabled else 'pairs') + f'_r{r}.kept')} |" for r in rounds], "",
        "## LLM calls and tokens", "",
        f"{usage['prompts']} prompts ({usage['sent']} sent to the engine, {usage['cached']} from the prompt "
        f"cache), {usage['prompt_tokens']} prompt tokens, {usage['completion_tokens']} completion tokens"
        + (f"; {metrics['final.llm_calls_per_pair']:.2f} calls per published pair."
           if "final.llm_calls_per_pair" in metrics else "."), "",
        "## Decontamination", "",
    ]
    if cfg.decontam.benchmarks:
        lines += [f"Word {cfg.decontam.ngram}-gram overlap (lower-cased words; benchmark prompts of "
                  f"{cfg.decontam.min_words}-{cfg.decontam.ngram - 1} words matched whole) against the "
                  f"`{cfg.decontam.prompt_field}` field of:", "",
                  "| benchmark | prompts | too short | pairs dropped | documents dropped |", "|---|---|---|---|---|"]
        from .decontam import benchmark_name

        for path in cfg.decontam.benchmarks:
            b = benchmark_name(path)
            docs = contam.get(f"documents.{b}")
            lines.append(f"| {b} | {contam.get(f'benchmark.{b}.prompts', 0)} | "
                         f"{contam.get(f'benchmark.{b}.too_short', 0)} | {contam.get(f'pairs.{b}', 0)} | "
                         f"{'not checked' if docs is None else docs} |")
        lines.append("")
    else:
        lines += ["Not run: no benchmark file was configured (`decontam.benchmarks`), so this data has **not** "
                  "been checked against evaluation sets.", ""]
    lines += ["## Personal data", ""]
    if cfg.pii.types:
        lines += [f"Masked with typed placeholders ({', '.join(cfg.pii.types)}) in "
                  + " and ".join(x for x, on in (("documents before any prompt", cfg.pii.documents),
                                                 ("generated text before export", cfg.pii.generated)) if on)
                  + ". Placeholders per type:", "",
                  "| where | " + " | ".join(cfg.pii.types) + " |", "|---" * (len(cfg.pii.types) + 1) + "|"]
        for scope in ("documents", "generated"):
            if any(k.startswith(scope + ".") for k in pii):
                lines.append(f"| {scope} | " + " | ".join(str(pii.get(f"{scope}.{t}", 0)) for t in cfg.pii.types)
                             + " |")
        lines += ["", "Regular expressions (Luhn-checked card numbers) find these; names and street addresses "
                  "are not detected.", ""]
    else:
        lines += ["Not masked (`pii.types` is empty).", ""]
    lines += ["## Data quality", ""]
    if quality:
        lines += ["| metric | value |", "|---|---|", *[f"| {k} | {v} |" for k, v in quality.items()], ""]
    lines += [f"![{p.rsplit('.', 1)[0]}](plots/{p})" for p in plots] + ([""] if plots else [])
    lines += ["## Source and licence", "",
              f"Input: `{(lineage.get('input') or {}).get('source', cfg.input.path)}`"
              + (f" ({lineage['input']['num_rows']} documents, digest {lineage['input']['digest']})"
                 if lineage.get("input") else "") + f". Licence of this dataset: **{cfg.card.license}** "
              "(as configured in `card.license`); the terms of the source corpus and of the model apply.", "",
              "## Run", "",
              f"- run id: `{run_id or 'not tracked'}`" + (f" (MLflow tracking URI `{tracking_uri}`)" if tracking_uri
                                                          else ""),
              f"- run dir: `{run_dir}`",
              "- numbers: `metrics.json` in the run dir; the resolved configuration: `config.yaml`", ""]
    return "\n".join(lines)
