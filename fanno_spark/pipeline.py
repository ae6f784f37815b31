"""The FANNO job: stages wired over a run directory, with the driver-side UCB loop and MLflow.

Stage order (names are also valid --until values): docs, docs_scored, docs_dedup, [docs_judged], docs_kept, docs_vec, edges,
communities, docs_selected, instructions_r0, pairs_r0, instructions_r<r>, pairs_r<r>, final.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass, field

import yaml
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from .config import FannoConfig, flatten, to_dict
from .fs import FileSystem, staging_dir
from .generate import diversity
from .generate import judge as generate_judge
from .generate import stages as gen
from .generate.ucb import UCBBandit, minmax
from .io.readers import read_corpus
from .llm.engine import EngineSpec, Sampling
from .llm.model_store import embedding_model_path, model_key, resolve_model
from .llm.spark_generate import generate_cached
from .prescreen import dedup, doc_judge, embed, graph, heuristics, language
from .redact import redact
from .report.build import build_report
from .rundir import RunDir
from .tracking import Tracker

log = logging.getLogger("fanno_spark")

PRESCREEN_STAGES = ("docs", "docs_scored", "docs_dedup", "docs_judged", "docs_kept", "docs_vec", "edges",
                    "communities", "docs_selected")


class StopAfter(Exception):
    """Raised when --until names the stage just completed."""


class NothingToGenerate(RuntimeError):
    """Every document was rejected by the pre-screen: rejects and metrics are written, the job stops."""


@dataclass
class JobResult:
    run_dir: str
    run_id: str | None
    pairs: int
    final_dir: str | None
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class Job:
    spark: SparkSession
    cfg: FannoConfig
    run_dir: str
    fs: FileSystem
    tracker: Tracker | None = None
    until: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    info: dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        self.rd = RunDir(self.run_dir, self.spark, self.fs, log=log.info,
                         progress_interval_s=self.cfg.output.progress_interval_s)
        self._llm_stats: dict[str, dict[str, float]] = {}
        path = resolve_model(self.cfg.llm.model) if self.cfg.llm.engine == "vllm" else self.cfg.llm.model
        # Prompt-cache keys use the logical model id (+ a hash of its config), never a machine path.
        self.model = model_key(self.cfg.llm.model, path)
        self.spec = EngineSpec(kind=self.cfg.llm.engine, model=path, dtype=self.cfg.llm.dtype,
                               max_model_len=self.cfg.llm.max_model_len, enforce_eager=self.cfg.llm.enforce_eager,
                               gpu_memory_utilization=self.cfg.llm.gpu_memory_utilization,
                               tensor_parallel_size=self.cfg.llm.tensor_parallel_size, threads=self.cfg.llm.threads,
                               seed=self.cfg.llm.seed, base_url=self.cfg.llm.base_url,
                               api_key_env=self.cfg.llm.api_key_env, concurrency=self.cfg.llm.concurrency,
                               request_timeout_s=self.cfg.llm.request_timeout_s, max_retries=self.cfg.llm.max_retries,
                               backoff_s=self.cfg.llm.backoff_s)

    # -- helpers ---------------------------------------------------------------------------------
    def _stage(self, name: str, build, partitions: int | None = None) -> DataFrame:
        df = self.rd.stage(name, build, partitions)
        stats_file = f"llm_stats/{name}.json"
        if name in self._llm_stats:  # generated now: keep its LLM numbers next to the stage
            self.rd.write_json(stats_file, self._llm_stats.pop(name))
        elif self.rd.exists(stats_file):  # resumed: report what the stage cost when it ran
            for k, v in self.rd.read_json(stats_file).items():
                if isinstance(v, str):
                    self._info(k, v)
                else:
                    self._metric(k, v)
        rows = self.rd.counts.get(name)  # counted once when written; a resumed stage is counted here
        self._metric(f"{name}.rows", rows if rows is not None else df.count())
        if name in self.rd.timings:
            self._metric(f"{name}.seconds", self.rd.timings[name])
        if self.until == name:
            raise StopAfter(name)
        return df

    def _metric(self, key: str, value: float) -> None:
        self.metrics[key] = float(value)
        if self.tracker:
            self.tracker.log_metrics({key: value})

    def _info(self, key: str, value: str) -> None:
        """A string fact about the run (e.g. the dtype the engines resolved): metrics.json + MLflow tag."""
        self.info[key] = value
        if self.tracker:
            self.tracker.set_tag(key, value)

    def _kept_count(self, df: DataFrame, stage: str) -> None:
        """<stage>.kept, and <stage>.yield = kept / rows in (the share of the stage's output worth keeping)."""
        kept = df.where(F.col("drop_reason").isNull()).count()
        self._metric(f"{stage}.kept", kept)
        rows = self.metrics.get(f"{stage}.rows")
        if rows:
            self._metric(f"{stage}.yield", kept / rows)

    def _reason_counts(self, df: DataFrame, prefix: str) -> None:
        for row in df.where(F.col("drop_reason").isNotNull()).groupBy("drop_reason").count().collect():
            self._metric(f"{prefix}.dropped.{row['drop_reason']}", row["count"])

    def _write_rejects(self, name: str, df: DataFrame) -> None:
        self.rd.write_parquet_once(f"rejects/{name}", df.where(F.col("drop_reason").isNotNull()))

    def _sampling(self, max_tokens: int) -> Sampling:
        return Sampling(max_tokens=max_tokens, temperature=self.cfg.llm.temperature, top_p=self.cfg.llm.top_p,
                        seed=self.cfg.llm.seed)

    def _generate(self, prompts: DataFrame, sampling: Sampling, stage: str) -> DataFrame:
        self.spark.sparkContext.setJobGroup(stage, f"fanno-spark LLM {stage}", interruptOnCancel=True)
        start = time.time()
        out, stats = generate_cached(self.spark, prompts, self.spec, sampling, self.rd.uri("llm_cache"), self.fs,
                                     stage, partitions=self.cfg.llm.partitions, batch_size=self.cfg.llm.batch_size,
                                     gpus_per_task=self.cfg.llm.gpu_per_task, cpus_per_task=self.cfg.llm.cpus_per_task,
                                     commit_every=self.cfg.llm.commit_every)
        self._llm_stats[stage] = stats.as_metrics(stage)
        for k, v in self._llm_stats[stage].items():
            self._metric(k, v)
        if stats.dtypes:  # resolved on the executors; llm.dtype in the config may say "auto"
            self._llm_stats[stage][f"{stage}.llm_dtype"] = ",".join(stats.dtypes)
            self._info(f"{stage}.llm_dtype", ",".join(stats.dtypes))
            self._info("llm.dtype_resolved", ",".join(sorted({*stats.dtypes, *filter(
                None, self.info.get("llm.dtype_resolved", "").split(","))})))
        log.info("[%s] LLM: %d prompts, %d from cache, %d sent, %d completion tokens in %.1fs (dtype %s)",
                 stage, stats.prompts, stats.cached, stats.sent, stats.completion_tokens, time.time() - start,
                 ",".join(stats.dtypes) or "n/a")
        return out

    # -- pre-screen ------------------------------------------------------------------------------
    def prescreen(self) -> DataFrame:
        cfg = self.cfg
        docs = self._stage("docs", lambda: read_corpus(self.spark, cfg.input))
        scored = self._stage("docs_scored", lambda: heuristics.decide(heuristics.score_documents(
            language.add_language(docs, cfg.prescreen.language_chars)), cfg.prescreen))
        deduped = self._stage("docs_dedup", lambda: dedup.mark_near_duplicates(scored, cfg.dedup))
        if cfg.doc_judge.enabled:
            deduped = self._stage("docs_judged", lambda: self._judge_documents(deduped))
            self._metric("doc_judge.unscored", deduped.where(
                (F.col("drop_reason").isNull()) & (F.col("judge_quality").isNull() | F.col("judge_ad").isNull()))
                .count())
        self._reason_counts(deduped, "prescreen")
        self._write_rejects("docs", deduped)
        kept = self._stage("docs_kept", lambda: heuristics.split_kept(deduped)[0].drop("raw", "read_error"))
        if self.metrics["docs_kept.rows"] == 0:
            self.rd.write_json("metrics.json", {**self.metrics, **self.info})
            reasons = ", ".join(f"{k.split('.')[-1]} {int(v)}" for k, v in sorted(self.metrics.items())
                                if k.startswith("prescreen.dropped."))
            raise NothingToGenerate(f"no document passed the pre-screen ({int(self.metrics['docs.rows'])} read, "
                                    f"all rejected: {reasons or 'none'}); see {self.rd.uri('rejects', 'docs')}")
        vecs = self._stage("docs_vec", lambda: embed.embed_documents(kept.select("id", "text"), cfg.embed,
                                                                     embedding_model_path()))
        edges = self._stage("edges", lambda: graph.similarity_edges(vecs, cfg.graph))
        self.kept, self.edges = kept, edges  # RAG responses read documents and neighbours from these
        comms = self._stage("communities", lambda: graph.label_propagation(kept, edges, cfg.graph))
        sizes = graph.community_sizes(comms)
        agg = sizes.agg(F.count("*").alias("n"), F.max("size").alias("largest"),
                        F.sum(F.when(F.col("size") == 1, 1).otherwise(0)).alias("singletons")).first()
        self._metric("communities.count", agg["n"])
        self._metric("communities.largest", agg["largest"] or 0)
        self._metric("communities.singletons", agg["singletons"] or 0)
        with_comm = kept.select("id", "text", "url").join(comms, "id")
        return self._stage("docs_selected", lambda: graph.sample_per_community(with_comm, cfg.sample))

    def _judge_documents(self, docs: DataFrame) -> DataFrame:
        """The LLM judge scores only documents the rules kept (the expensive step runs last)."""
        jc = self.cfg.doc_judge
        sampling = doc_judge.judge_sampling(jc)
        alive = docs.where(F.col("drop_reason").isNull()).select("id", "text")
        generated = self._generate(doc_judge.judge_prompts(alive, self.model, sampling, jc.max_doc_chars),
                                   sampling, "docs_judged")
        return doc_judge.decide(docs, doc_judge.judge_scores(generated), jc)

    # -- generation ------------------------------------------------------------------------------
    def _instructions(self, name: str, prompts_df: DataFrame | None, pool: DataFrame | None, round_no: int,
                      max_tokens: int) -> DataFrame:
        def build():
            generated = self._generate(prompts_df, self._sampling(max_tokens), name)
            cands = gen.parse_and_filter_instructions(generated, pool, self.cfg.filter, round_no)
            if self.cfg.filter.max_similarity is None:
                return cands.withColumn("similar_to", F.lit(None).cast("string"))
            return diversity.mark_similar(cands, pool, self.cfg.filter.max_similarity, self.cfg.embed,
                                          self.cfg.graph, embedding_model_path())
        cands = self._stage(name, build)
        self._reason_counts(cands, name)
        self._kept_count(cands, name)
        self._write_rejects(name, cands)
        return cands

    def _pairs(self, name: str, cands: DataFrame) -> DataFrame:
        sampling = self._sampling(self.cfg.respond.max_tokens)

        def build():
            kept = cands.where(F.col("drop_reason").isNull()).drop("drop_reason")
            if self.cfg.respond.mode == "rag":
                prompts_df = gen.rag_response_prompts(kept, self.kept, graph.nearest_neighbours(self.edges),
                                                      self.model, sampling, self.cfg.respond.max_doc_chars)
            else:
                prompts_df = gen.response_prompts(kept, self.model, sampling).withColumn(
                    "rag_neighbour_id", F.lit(None).cast("string"))
            generated = self._generate(prompts_df, sampling, name)
            return gen.parse_responses(generated)
        pairs = self._stage(name, build)
        self._reason_counts(pairs, name)
        self._kept_count(pairs, name)
        self._write_rejects(name, pairs)
        return pairs

    def _judged(self, round_no: int, pairs: DataFrame) -> DataFrame:
        """Optional pair judge after a round's responses (stage judged_rN); identity when off."""
        if not self.cfg.judge.enabled:
            return pairs
        jc, name = self.cfg.judge, f"judged_r{round_no}"
        sampling = generate_judge.judge_sampling(jc)

        def build():
            generated = self._generate(generate_judge.judge_prompts(pairs, self.model, sampling, jc.max_chars),
                                       sampling, name)
            return generate_judge.apply_scores(pairs, generated, jc)
        judged = self._stage(name, build)
        self._kept_count(judged, name)
        self._metric(f"{name}.unscored", judged.where(F.col("judge_error").isNotNull()).count())
        self._reason_counts(judged.where(F.col("drop_reason") == "low_judge_score"), name)
        self._write_rejects(name, judged.where(F.col("drop_reason") == "low_judge_score"))
        return judged

    def _pairs_stage(self, round_no: int) -> str:
        return f"judged_r{round_no}" if self.cfg.judge.enabled else f"pairs_r{round_no}"

    def _rewards(self, pairs: DataFrame) -> list[tuple[str, str, list[str], float]]:
        """(instruction_id, instruction, fewshot_ids, reward) for the round's valid pairs. Reward: the
        judge score scaled to [0, 1] when the judge ran, else FANNO's min-max normalised response length."""
        judged = self.cfg.judge.enabled and "judge_score" in pairs.columns
        score = F.col("judge_score") if judged else F.lit(None).cast("double")
        rows = (pairs.where(F.col("drop_reason").isNull())
                .select("instruction_id", "instruction", "fewshot_ids", F.length("output").alias("n"),
                        score.alias("score"))
                .orderBy("instruction_id").collect())
        by_length = minmax([float(r["n"]) for r in rows])
        return [(r["instruction_id"], r["instruction"], list(r["fewshot_ids"] or []),
                 (r["score"] - 1.0) / 4.0 if r["score"] is not None else w)
                for r, w in zip(rows, by_length, strict=True)]

    def _save_ucb(self, bandit: UCBBandit, rel: str) -> None:
        self.rd.write_json(rel, json.loads(bandit.to_json()))
        if self.tracker:
            self.tracker.log_text(bandit.to_json(), rel)

    def generate(self, selected: DataFrame) -> DataFrame:
        cfg = self.cfg
        seed_sampling = self._sampling(cfg.seeds.max_tokens)
        seeds = self._instructions(
            "instructions_r0",
            gen.seed_prompts(selected, self.model, seed_sampling, cfg.tags.prompts_per_doc, cfg.tags.seed,
                             cfg.llm.max_doc_chars),
            None, 0, cfg.seeds.max_tokens)
        pool = self._judged(0, self._pairs("pairs_r0", seeds))
        bandit = UCBBandit(c=cfg.augment.ucb_c, top_fraction=cfg.augment.top_fraction, k=cfg.augment.fewshot_k,
                           seed=cfg.augment.seed)
        for arm_id, text, _, reward in self._rewards(pool):
            bandit.add(arm_id, text, reward)
        self._save_ucb(bandit, "ucb/round-0.json")
        valid = pool.where(F.col("drop_reason").isNull())
        doc_ids = [r["id"] for r in selected.select("id").collect()]
        for r in range(1, cfg.augment.rounds + 1):
            done_path = f"ucb/round-{r}.json"
            if self.rd.exists(done_path) and self.rd.done(self._pairs_stage(r)):
                bandit = UCBBandit.from_json(self.fs.read_text(self.rd.uri(done_path)))
                # The same stage calls as below: the stages are complete, so nothing is built or sent, and
                # their rows, drops and LLM numbers are reported as when they ran.
                done = self._judged(r, self._pairs(f"pairs_r{r}", self._instructions(
                    f"instructions_r{r}", None, valid, r, cfg.augment.max_tokens)))
                self._metric("ucb.arms", len(bandit.arms))
                valid = valid.unionByName(done.where(F.col("drop_reason").isNull()))
                continue
            if cfg.augment.target_pairs and valid.count() >= cfg.augment.target_pairs:
                log.info("target of %d pairs reached after round %d: no more rounds", cfg.augment.target_pairs, r - 1)
                break
            if not bandit.arms:
                log.warning("round %d skipped: the pool has no valid pairs to use as few-shot examples", r)
                break
            picked_path = f"ucb/round-{r}-picked.json"
            if self.rd.exists(picked_path):  # resume inside a round: reuse the same picks, never re-draw
                bandit = UCBBandit.from_json(self.fs.read_text(self.rd.uri(picked_path)))
                picks = self.rd.read_json(f"ucb/round-{r}-picks.json")
            else:
                picks = bandit.choose(doc_ids, round_no=r)
                self.rd.write_json(f"ucb/round-{r}-picks.json", picks)
                self._save_ucb(bandit, f"ucb/round-{r}-picked.json")
            picks_df = self.spark.createDataFrame(
                [(d, ids, [bandit.arms[i].text for i in ids]) for d, ids in picks.items()],
                "doc_id string, fewshot_ids array<string>, fewshot_texts array<string>")
            sampling = self._sampling(cfg.augment.max_tokens)
            cands = self._instructions(
                f"instructions_r{r}",
                gen.augment_prompts(selected, picks_df, self.model, sampling, r, cfg.augment.seed,
                                    cfg.llm.max_doc_chars),
                valid, r, cfg.augment.max_tokens)
            pairs = self._judged(r, self._pairs(f"pairs_r{r}", cands))
            for arm_id, text, fewshots, reward in self._rewards(pairs):
                for shot in fewshots:
                    if shot in bandit.arms:
                        bandit.update(shot, reward)
                bandit.add(arm_id, text, reward)
            self._save_ucb(bandit, f"ucb/round-{r}.json")
            self._metric("ucb.arms", len(bandit.arms))
            valid = valid.unionByName(pairs.where(F.col("drop_reason").isNull()))
        return valid

    # -- output ----------------------------------------------------------------------------------
    def finalize(self, valid: DataFrame, selected: DataFrame) -> DataFrame:
        urls = selected.select(F.col("id").alias("doc_id"), F.col("url").alias("doc_url"))
        if "judge_score" not in valid.columns:
            valid = valid.withColumn("judge_score", F.lit(None).cast("double"))
        final = self._stage("final", lambda: (
            valid.join(urls, "doc_id", "left")
            .select("instruction", F.lit("").alias("input"), "output", "doc_id", "doc_url", "community",
                    "task_type", "difficulty", "style", "round", "fewshot_ids", "instruction_id",
                    "instruction_prompt_hash", "response_prompt_hash", "instruction_tokens", "response_tokens",
                    "rag_neighbour_id", "judge_score")
            .orderBy("round", "doc_id", "instruction_id")), partitions=1)
        out = staging_dir("fanno-export-")  # written locally, streamed row by row, then uploaded
        n = 0
        with open(out / "alpaca.json.tmp", "w") as alpaca, open(out / "messages.jsonl.tmp", "w") as messages:
            alpaca.write("[\n")
            for row in final.toLocalIterator():  # streams: the driver never holds the whole dataset
                rec = {"instruction": row["instruction"], "input": row["input"], "output": row["output"]}
                alpaca.write((",\n" if n else "") + json.dumps(rec, ensure_ascii=False))
                msgs = [{"role": "user", "content": row["instruction"]},
                        {"role": "assistant", "content": row["output"]}]
                messages.write(json.dumps({"messages": msgs, "doc_id": row["doc_id"]}, ensure_ascii=False) + "\n")
                n += 1
            alpaca.write("\n]\n")
        (out / "alpaca.json.tmp").replace(out / "alpaca.json")
        (out / "messages.jsonl.tmp").replace(out / "messages.jsonl")
        (out / "sample.json").write_text(json.dumps(
            [r.asDict() for r in final.limit(self.cfg.output.sample_rows).drop("fewshot_ids").collect()],
            indent=2, sort_keys=True, default=str))
        for name in ("alpaca.json", "messages.jsonl", "sample.json"):
            self.fs.upload(out / name, self.rd.uri("export", name))
        if self.tracker:
            self.tracker.log_artifact(out / "sample.json", "dataset")
            self.tracker.log_artifact(out / "alpaca.json", "dataset")
        shutil.rmtree(out, ignore_errors=True)
        if self.cfg.report.enabled and n:
            self._report(final)
        return final

    def _report(self, final: DataFrame) -> None:
        self.spark.sparkContext.setJobGroup("report", "fanno-spark data report", interruptOnCancel=True)
        start = time.time()
        local = staging_dir("fanno-report-")  # matplotlib writes local files; then they go to the run dir
        metrics, pngs = build_report(final, local, self.cfg.report, self.cfg.embed, embedding_model_path())
        for k, v in metrics.items():
            self._metric(k, v)
        for f in [*pngs, local / "report.json"]:
            self.fs.upload(f, self.rd.uri("report", f.name))
            if self.tracker:
                self.tracker.log_artifact(f, "report")
        shutil.rmtree(local, ignore_errors=True)
        log.info("[report] %d plots in %.1fs: %s", len(pngs), time.time() - start, ", ".join(p.name for p in pngs))

    def run(self) -> JobResult:
        selected = self.prescreen()
        valid = self.generate(selected)
        final = self.finalize(valid, selected)
        pairs = final.count()
        calls = sum(v for k, v in self.metrics.items() if k.endswith(".llm_prompts"))
        self._metric("final.pairs", pairs)
        if pairs:
            self._metric("final.llm_calls_per_pair", calls / pairs)
        self.rd.write_json("metrics.json", {**self.metrics, **self.info})  # the same numbers as MLflow, next to the data
        return JobResult(self.run_dir, self.tracker.run_id if self.tracker else None, pairs,
                         self.rd.uri("export"), dict(self.metrics))


def run_job(spark: SparkSession, cfg: FannoConfig, run_dir: str, fs: FileSystem, tracker: Tracker | None,
            until: str | None = None) -> JobResult:
    # Redacted: the file is also an MLflow artifact (a base_url may carry user:password).
    config_yaml = redact(yaml.safe_dump(to_dict(cfg), sort_keys=False))
    fs.write_text(f"{run_dir.rstrip('/')}/config.yaml", config_yaml)
    if tracker:
        tracker.log_params(flatten(cfg))
        tracker.log_text(config_yaml, "config.yaml")
    job = Job(spark, cfg, run_dir, fs, tracker, until)
    try:
        return job.run()
    except StopAfter as stop:
        log.info("stopped after stage %s (--until)", stop)
        job.rd.write_json("metrics.json", {**job.metrics, **job.info})
        return JobResult(run_dir, tracker.run_id if tracker else None, 0, None, dict(job.metrics))
