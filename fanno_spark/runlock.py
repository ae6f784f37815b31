"""One job per run directory: a lock file created atomically (O_EXCL also works on shared and network
file systems, where flock often does not), holding the owner's host, pid and process start time.

A lock whose owner is gone (same host, pid dead or reused, e.g. after kill -9) is taken over; a lock
held from another host cannot be checked, so the message says which file to delete.
"""

from __future__ import annotations

import json
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path

LOCK_NAME = ".fanno.lock"


class RunDirLocked(RuntimeError):
    pass


def _start_ticks(pid: int) -> str | None:
    """Process start time from /proc (Linux): tells a live owner from a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _owner_alive(owner: dict) -> bool:
    if owner.get("host") != socket.gethostname():
        return True  # cannot check another machine: assume it runs
    pid = int(owner.get("pid", -1))
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, ValueError):
        return False
    started = owner.get("start_ticks")
    return started is None or _start_ticks(pid) == started


@contextmanager
def run_lock(run_dir: Path, log=print):
    path = run_dir / LOCK_NAME
    me = {"pid": os.getpid(), "host": socket.gethostname(), "start_ticks": _start_ticks(os.getpid()),
          "since": time.strftime("%Y-%m-%d %H:%M:%S")}
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                owner = json.loads(path.read_text())
            except (OSError, ValueError):
                owner = {}
                if time.time() - path.stat().st_mtime < 30:  # being written right now
                    time.sleep(1)
                    continue
            if owner and _owner_alive(owner):
                raise RunDirLocked(
                    f"run dir {run_dir} is in use by another fanno-spark job (pid {owner.get('pid')} on "
                    f"{owner.get('host')}, since {owner.get('since')}); wait for it or choose another --output "
                    f"(if that job is gone, delete {path})") from None
            log(f"run dir lock of a job that is gone (pid {owner.get('pid')}) taken over")
            path.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as f:
            json.dump(me, f)
        break
    else:
        raise RunDirLocked(f"could not take the run dir lock {path}")
    try:
        yield
    finally:
        try:
            if json.loads(path.read_text()).get("pid") == me["pid"]:
                path.unlink()
        except (OSError, ValueError):
            pass


def completed_stages(run_dir: Path) -> list[str]:
    """Stage folders of an earlier run (their _SUCCESS marker written), oldest first."""
    if not run_dir.is_dir():
        return []
    done = [p.parent for p in run_dir.glob("*/_SUCCESS") if p.parent.name not in ("llm_cache",)]
    return [p.name for p in sorted(done, key=lambda p: (p / "_SUCCESS").stat().st_mtime)]
