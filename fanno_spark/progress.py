"""Progress of long stages: a driver thread polls Spark's status tracker for the stage's job group and
logs one line per interval (tasks done / total, running, failed), so a GPU-hours LLM stage is never
silent between its start and end lines."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

# Extra words for a group's progress line, set by the code running in it (the LLM stage: answers, tokens and
# engine occupancy so far). Accumulators reach the driver as tasks finish, so they cover finished tasks.
NOTES: dict[str, Callable[[], str]] = {}


def note(group: str, describe: Callable[[], str] | None) -> None:
    """Attach (or with None, detach) a description to a job group's progress line."""
    if describe is None:
        NOTES.pop(group, None)
    else:
        NOTES[group] = describe


def failed_tasks(sc, group: str) -> int:
    """Task attempts that failed in a job group's jobs so far (Spark retried them: their work was paid twice)."""
    tracker, n = sc.statusTracker(), 0
    for job_id in tracker.getJobIdsForGroup(group):
        job = tracker.getJobInfo(job_id)
        for stage_id in job.stageIds if job is not None else ():
            st = tracker.getStageInfo(stage_id)
            n += st.numFailedTasks if st is not None else 0
    return n


class StageProgress:
    def __init__(self, sc, group: str, log: Callable[[str], None], interval_s: float = 30.0):
        self.sc, self.group, self.log, self.interval_s = sc, group, log, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"progress-{group}", daemon=True)
        self._start = time.time()

    def __enter__(self) -> StageProgress:
        if self.interval_s > 0:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def snapshot(self) -> dict[str, int]:
        """Task counts summed over the group's jobs' stages. A finished job counts only the tasks it ran:
        its stages skipped by shuffle reuse report numTasks but never complete any."""
        tracker = self.sc.statusTracker()
        totals = {"jobs": 0, "tasks": 0, "done": 0, "running": 0, "failed": 0}
        for job_id in tracker.getJobIdsForGroup(self.group):
            job = tracker.getJobInfo(job_id)
            if job is None:
                continue
            totals["jobs"] += 1
            for stage_id in job.stageIds:
                st = tracker.getStageInfo(stage_id)
                if st is None:  # not started yet (or already forgotten by the UI store)
                    continue
                finished = job.status in ("SUCCEEDED", "FAILED")
                totals["tasks"] += st.numCompletedTasks if finished else st.numTasks
                totals["done"] += st.numCompletedTasks
                totals["running"] += st.numActiveTasks
                totals["failed"] += st.numFailedTasks
        return totals

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                s = self.snapshot()
            except Exception as exc:  # the session may be stopping; progress must never fail the job
                self.log(f"[{self.group}] progress unavailable: {exc}")
                return
            if s["running"] or s["done"] < s["tasks"]:
                self.log(f"[{self.group}] running {time.time() - self._start:.0f}s: {s['done']}/{s['tasks']} tasks "
                         f"done, {s['running']} running, {s['failed']} failed (Spark jobs {s['jobs']})"
                         + self._note())

    def _note(self) -> str:
        describe = NOTES.get(self.group)
        if describe is None:
            return ""
        try:
            return f"; {describe()}"
        except Exception:  # noqa: BLE001 - a note must never stop the progress line
            return ""
