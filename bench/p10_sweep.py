"""P10: a 3-point sweep on the bundled corpus (`python -m fanno_spark sweep --sweep FILE`) against the same 3
configs as 3 separate runs, back to back in one bench run: wall seconds, stages computed (the plan's stages a
run wrote, frame and file), LLM prompts sent to the engine, and the ratio of each (sweep / separate). The fake
engine answers (no engine time): the wall-time ratio is the Spark side's; with a real model the engine's time
follows the prompts-sent ratio."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .p9_storage import JOB, ROOT, _env

POINTS = [{"llm.temperature": 0.3}, {"llm.temperature": 0.7},
          {"llm.temperature": 0.3, "filter.max_similarity": 0.8}]


def _run(cmd: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "fanno_spark", *cmd], cwd=ROOT, env=_env(), capture_output=True,
                          text=True, timeout=3600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return round(time.perf_counter() - start, 1), proc.stdout


def run() -> list[dict]:
    tmp = Path(tempfile.mkdtemp(prefix="p10-"))
    track = ["--set", f"tracking.uri=sqlite:///{tmp / 'mlflow.db'}"]
    separate = {"seconds": 0.0, "stages": 0, "sent": 0}
    for i, point in enumerate(POINTS, 1):
        out = tmp / f"separate-{i}"
        secs, _ = _run([*JOB, *track, "--output", str(out), *[a for k, v in point.items() for a in ("--set", f"{k}={v}")]])
        m = json.loads((out / "metrics.json").read_text())
        separate["seconds"] = round(separate["seconds"] + secs, 1)
        separate["stages"] += sum(1 for k in m if k.endswith(".seconds") and k.count(".") == 1)
        separate["sent"] += int(m["cost.paid.sent"])
    sweep_file = tmp / "sweep.yaml"
    sweep_file.write_text(json.dumps({"points": POINTS}))
    secs, stdout = _run(["sweep", *JOB, *track, "--output", str(tmp / "sweep"), "--sweep", str(sweep_file)])
    done = [json.loads((tmp / "sweep" / "points" / f"p{i}" / "point_done.json").read_text())
            for i in range(1, len(POINTS) + 1)]
    sweep = {"seconds": secs, "stages": sum(len(d["computed"]) for d in done), "sent": sum(d["sent"] for d in done)}
    assert f"{sweep['sent']} prompts sent" in stdout
    shutil.copyfile(tmp / "sweep" / "compare" / "metrics.png", ROOT / "docs" / "sweep_compare_metrics.png")
    shutil.copyfile(tmp / "sweep" / "compare" / "drops.png", ROOT / "docs" / "sweep_compare_drops.png")
    rows = []
    for what, key in (("wall seconds", "seconds"), ("stages computed", "stages"), ("LLM prompts sent", "sent")):
        rows.append({"bench": "P10", "what": f"3 points: {what}, 3 separate runs -> one sweep",
                     "separate": separate[key], "sweep": sweep[key],
                     "ratio": round(sweep[key] / separate[key], 3) if separate[key] else ""})
    shutil.rmtree(tmp, ignore_errors=True)
    return rows
