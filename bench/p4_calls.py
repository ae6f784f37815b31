"""P4: LLM calls per kept pair on the bundled corpus: the default job (conf/local.yaml) run from a
fresh run dir through the CLI, exactly as `make run` does; calls = every prompt any LLM stage sent
(instructions + responses, + judge calls when a judge runs) / final pairs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(__file__).parent / ".cache" / "p4-run"


def run(extra: tuple[str, ...] = ()) -> list[dict]:
    shutil.rmtree(OUT, ignore_errors=True)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "fanno_spark", "--config", "conf/local.yaml", "--output", str(OUT),
                           *extra], cwd=ROOT, env=dict(os.environ, PYTHONUNBUFFERED="1"), text=True,
                          capture_output=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(proc.stdout[-2000:] + proc.stderr[-2000:])
    m = json.loads((OUT / "metrics.json").read_text())
    stages = sorted(k.split(".")[0] for k in m if k.endswith(".llm_prompts"))
    tokens = {s: f"{int(m[f'{s}.llm_sent'])}p/{int(m[f'{s}.llm_prompt_tokens'])}in/"
                 f"{int(m[f'{s}.llm_completion_tokens'])}out" for s in stages}
    drops = {k.replace(".dropped.", ":"): int(v) for k, v in m.items()
             if ".dropped." in k and not k.startswith("prescreen.")}
    print(f"P4 {m['final.pairs']:.0f} pairs, {m['final.llm_calls_per_pair']:.2f} calls/pair in {seconds:.0f}s; "
          f"{tokens}; drops {drops}", flush=True)
    return [{"bench": "P4", "what": "default job on the bundled corpus (conf/local.yaml)", "docs": int(m["docs.rows"]),
             "seconds": round(seconds, 1), "calls_per_pair": round(m["final.llm_calls_per_pair"], 3),
             "kept": int(m["final.pairs"]), "drops": {**tokens, **drops}}]
