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

from .fs import FileSystem, LocalFS, display, join

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
def run_lock(run_dir, log=print, fs: FileSystem | None = None):
    """Hold the run dir's lock file (run_dir: a path or any URI `fs` reaches; default the local disk).
    On s3a:// the create is a conditional PUT where the store honours it; where no atomic create-if-absent
    exists (other object stores, S3 stores without conditional writes), the lock is advisory: one log line
    says so, and two jobs started in the same second could both take it."""
    fs = fs or LocalFS()
    uri = join(str(run_dir), LOCK_NAME)
    me = {"pid": os.getpid(), "host": socket.gethostname(), "start_ticks": _start_ticks(os.getpid()),
          "since": time.strftime("%Y-%m-%d %H:%M:%S")}
    for _ in range(3):
        if not fs.create_new(uri, json.dumps(me).encode()):
            try:
                owner = json.loads(fs.read_text(uri))
            except (OSError, ValueError) as exc:
                owner = {}
                mtime = {n: m for n, _, _, m in fs.list(str(run_dir))}.get(LOCK_NAME, 0.0)
                if not isinstance(exc, FileNotFoundError) and time.time() - mtime < 30:  # being written
                    time.sleep(1)
                    continue
            except Exception:  # noqa: BLE001 - py4j: the file went away between create and read
                owner = {}
            if owner and _owner_alive(owner):
                raise RunDirLocked(
                    f"run dir {display(str(run_dir))} is in use by another fanno-spark job (pid {owner.get('pid')} on "
                    f"{owner.get('host')}, since {owner.get('since')}); wait for it or choose another --output "
                    f"(if that job is gone, delete {display(uri)})") from None
            if owner:
                log(f"run dir lock of a job that is gone (pid {owner.get('pid')}) taken over")
            fs.delete(uri)
            continue
        break
    else:
        raise RunDirLocked(f"could not take the run dir lock {uri}")
    if not fs.atomic_create(uri):  # asked after the create: a store's refusal of conditional writes is known
        log(f"run dir lock {uri} is advisory: this filesystem has no atomic create-if-absent "
            "(object store); do not start two jobs on one run dir at the same time")
    try:
        yield
    finally:
        try:
            if json.loads(fs.read_text(uri)).get("pid") == me["pid"]:
                fs.delete(uri)
        except Exception:  # noqa: BLE001 - gone already, or unreadable: nothing to release
            pass


NOT_STAGES = ("llm_cache", "rejects", "_checkpoints")


def completed_stages(run_dir, fs: FileSystem | None = None) -> list[str]:
    """Stage folders of an earlier run (their _SUCCESS marker written, or a Delta table's first commit),
    oldest first."""
    fs = fs or LocalFS()
    done = []
    for name, is_dir, _, _ in fs.list(str(run_dir)):
        if not is_dir or name in NOT_STAGES:
            continue
        marker = {n: m for n, _, _, m in fs.list(join(str(run_dir), name))}.get("_SUCCESS")
        if marker is None:
            marker = {n: m for n, _, _, m in fs.list(join(str(run_dir), name, "_delta_log"))}.get(
                "00000000000000000000.json")
        if marker is not None:
            done.append((marker, name))
    return [name for _, name in sorted(done)]
