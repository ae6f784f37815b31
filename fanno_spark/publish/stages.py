"""The publishing stages' bodies: decontamination (documents and pairs), the final dataset with lineage, and
the three file stages after it: the data report, the export files, the dataset card."""

from __future__ import annotations

import json
import logging
import shutil
import time

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ..fs import staging_dir
from ..generate.prompts import request_text
from ..generate.stages import valid_pairs
from ..llm.model_store import embedding_model_path
from ..redact import redact
from ..report.build import build_report
from ..text import pii
from . import card, decontam, ledger, lineage, tables

log = logging.getLogger("fanno_spark")

FINAL_COLUMNS = ("instruction", "input", "output", "doc_id", "passage", "span_start", "span_end", "doc_url",
                 "community", "task_type", "difficulty",
                 "style", "round", "fewshot_ids", "instruction_id", "instruction_prompt_hash", "response_prompt_hash",
                 "instruction_tokens", "response_tokens", "rag_neighbour_id", "judge_score")


def _benchmarks(ctx) -> tuple[DataFrame, list[int]]:
    """The evaluation prompts' n-grams, read once per job (cached: a few MB for 10k prompts)."""
    if "bench" not in ctx.shared:
        grams, lengths, stats = decontam.benchmark_grams(
            decontam.load_benchmarks(ctx.spark, ctx.cfg.decontam, ctx.fs), ctx.cfg.decontam)
        for k, v in stats.items():
            ctx.metric(f"decontam.benchmark.{k}", v)
        ctx.shared["bench"] = (grams.cache(), lengths)
    return ctx.shared["bench"]


def decontaminate_documents(ctx, decided: str) -> DataFrame:
    grams, lengths = _benchmarks(ctx)
    return decontam.mark_contaminated(ctx.out(decided), "id", ("text",), grams, lengths)


def decontaminate_pairs(ctx) -> DataFrame:
    grams, lengths = _benchmarks(ctx)
    return decontam.mark_contaminated(valid_pairs(ctx), "instruction_id", ctx.cfg.decontam.instruction_fields,
                                      grams, lengths)


def count_contaminated(ctx, df: DataFrame, scope: str) -> None:
    found = decontam.per_benchmark(df)
    for path in ctx.cfg.decontam.benchmarks:
        name = decontam.benchmark_name(path)
        ctx.metric(f"decontam.{scope}.{name}", found.get(name, 0))


def final(ctx) -> DataFrame:
    if ctx.cfg.decontam.benchmarks:
        valid = ctx.out("decontaminated").where(F.col("drop_reason").isNull())
    else:
        valid = valid_pairs(ctx)
    if ctx.cfg.pii.generated:
        valid = pii.mask_columns(valid, ("instruction", "input", "output"), ctx.cfg.pii.types)
    if "judge_score" not in valid.columns:
        valid = valid.withColumn("judge_score", F.lit(None).cast("double"))
    # generation rows carry their unit (a passage or a whole document) as doc_id; the dataset names the document
    # and the passage's span in it
    units = ctx.out("docs_selected").select(F.col("id").alias("passage_id"), "doc_id", "passage", "span_start",
                                            "span_end", F.col("url").alias("doc_url"))
    return (valid.withColumnRenamed("doc_id", "passage_id").join(units, "passage_id", "left")
            .select(*FINAL_COLUMNS).orderBy("round", "doc_id", "passage", "instruction_id"))


def measure_final(ctx, df: DataFrame) -> None:
    """The dataset's headline numbers (pairs, LLM calls per pair over every LLM stage) and its PII left."""
    for kind, n in pii.counts(df, ("instruction", "input", "output"), ctx.cfg.pii.types).items():
        ctx.metric(f"pii.generated.{kind}", n)
    pairs = ctx.rows("final")
    ctx.metric("final.pairs", pairs)
    if pairs:
        calls = sum(v for k, v in ctx.metrics.items() if k.endswith(".llm_prompts"))
        ctx.metric("final.llm_calls_per_pair", calls / pairs)


def log_final(ctx, df: DataFrame) -> None:
    """Every run with a tracker logs the dataset it ends with (a resumed one too); a Delta `final` with its
    table version, and under output.table in the catalog."""
    uri = ctx.rd.uri("final")
    if ctx.tracker is not None:  # readable in the run page's Evaluation/Artifacts table view, no download
        cols = [c for c in ("round", "task_type", "instruction", "input", "output", "judge_score", "doc_url")
                if c in df.columns]
        sample = df.select(*cols).limit(ctx.cfg.output.sample_rows).toPandas()
        ctx.tracker.mlflow.log_table(data=sample, artifact_file="pairs_sample.json")
    if ctx.cfg.output.format != "delta":
        lineage.log_output(ctx, df, uri)
        return
    table = tables.register(ctx.spark, ctx.cfg.output.table, uri) if ctx.cfg.output.table else None
    v = tables.version(ctx.spark, uri)
    ctx.note("final.delta_version", str(v))
    if table:
        ctx.note("final.table", table)
    lineage.log_output(ctx, df, uri, delta=(table, v))


def report(ctx) -> list[str]:
    """report/ (plots + report.json) and the plots again under export/plots, which the card shows."""
    final_df = ctx.out("final")
    if ctx.rows("final") == 0:
        return []
    ctx.spark.sparkContext.setJobGroup("report", "fanno-spark data report", interruptOnCancel=True)
    start = time.time()
    local = staging_dir("fanno-report-")  # matplotlib writes local files; then they go to the run dir
    metrics, pngs = build_report(final_df, local, ctx.cfg.report, ctx.cfg.embed, embedding_model_path(),
                                 ctx.cfg.filter.max_similarity or 0.9)
    for k, v in metrics.items():
        ctx.metric(k, v)
    written = []
    for f in [*pngs, local / "report.json"]:
        ctx.fs.upload(f, ctx.rd.uri("report", f.name))
        written.append(ctx.rd.uri("report", f.name))
        if f.suffix == ".png":
            ctx.fs.upload(f, ctx.rd.uri("export", "plots", f.name))
        if ctx.tracker:
            ctx.tracker.log_artifact(f, "report")
    shutil.rmtree(local, ignore_errors=True)
    log.info("[report] %d plots in %.1fs: %s", len(pngs), time.time() - start, ", ".join(p.name for p in pngs))
    return written


def export(ctx) -> list[str]:
    """export/alpaca.json, messages.jsonl, sample.json: streamed to local files on the driver (never the whole
    dataset in memory), then copied into the run dir, wherever it lives."""
    final_df = ctx.out("final")
    out = staging_dir("fanno-export-")
    n = 0
    with open(out / "alpaca.json", "w") as alpaca, open(out / "messages.jsonl", "w") as messages:
        alpaca.write("[\n")
        for row in final_df.toLocalIterator():
            rec = {"instruction": row["instruction"], "input": row["input"] or "", "output": row["output"]}
            alpaca.write((",\n" if n else "") + json.dumps(rec, ensure_ascii=False))
            msgs = [{"role": "user", "content": request_text(row["instruction"], row["input"])},
                    {"role": "assistant", "content": row["output"]}]
            messages.write(json.dumps({"messages": msgs, "doc_id": row["doc_id"]}, ensure_ascii=False) + "\n")
            n += 1
        alpaca.write("\n]\n")
    sample = [r.asDict() for r in final_df.limit(ctx.cfg.output.sample_rows).drop("fewshot_ids").collect()]
    (out / "sample.json").write_text(json.dumps(sample, indent=2, sort_keys=True, default=str))
    written = []
    for name in ("alpaca.json", "messages.jsonl", "sample.json"):
        ctx.fs.upload(out / name, ctx.rd.uri("export", name))
        written.append(ctx.rd.uri("export", name))
    if ctx.tracker:
        ctx.tracker.log_artifact(out / "sample.json", "dataset")
        ctx.tracker.log_artifact(out / "alpaca.json", "dataset")
    shutil.rmtree(out, ignore_errors=True)
    return written


def write_card(ctx) -> list[str]:
    """export/README.md: the dataset card (from the run's numbers, lineage and the exported plots)."""
    if "lineage.input" not in ctx.shared:
        lineage.log_corpus(ctx, ctx.out("docs"), force=True)
    ledger.record(ctx)  # the card's cost table from the run's numbers so far (every LLM stage is done)
    plots = sorted(name for name, is_dir, _, _ in ctx.fs.list(ctx.rd.uri("export", "plots")) if not is_dir)
    text = card.render(ctx.cfg, ctx.metrics, ctx.info, run_id=ctx.tracker.run_id if ctx.tracker else None,
                       tracking_uri=redact(ctx.tracker.uri) if ctx.tracker else None, run_dir=ctx.rd.uri(),
                       plots=plots, lineage={k.split(".", 1)[1]: v for k, v in ctx.shared.items()
                                             if k.startswith("lineage.")})
    uri = ctx.rd.write_text("export/README.md", text)
    if ctx.tracker:
        ctx.tracker.log_text(text, "dataset/README.md")
    return [uri]
