"""Test doubles the job loads by name (`llm.engine: fanno_doubles:FakeEngine`): tests/doubles is on the
PYTHONPATH of every process the tests start (tests/conftest.py), Spark's Python workers included."""

from __future__ import annotations

import hashlib
import math
import os
import re
import signal
import time

from fanno_spark.llm.types import Conversation, EngineSpec, Generation, Sampling

FAKE = "fanno_doubles:FakeEngine"  # the llm.engine value (and EngineSpec kind) of the fake
STREAMING_FAKE = "fanno_doubles:StreamingFakeEngine"


class FakeEngine:
    """Deterministic stand-in for tests of plumbing and parsing (never the real-model path)."""

    def __init__(self, spec: EngineSpec | None = None):
        self.spec = spec
        self.calls = 0
        self.loaded_dtype = None  # no weights

    def load(self) -> None:
        pass

    def generate(self, conversations: list[Conversation], sampling: Sampling) -> list[Generation]:
        self.calls += 1
        self._inject_faults()
        out = []
        for conv in conversations:
            last = conv[-1]["content"]
            digest = hashlib.md5(last.encode()).hexdigest()[:8]
            # Words from the document block when there is one (the template's own words would be
            # dropped as template_leak), else from the message itself.
            doc = re.search(r"<document>\n(.*?)\n</document>", last, re.DOTALL)
            words = (doc.group(1) if doc else last).split()
            text = f"Explain how {' '.join(words[:6])} relates to topic {digest}?"
            if digest[0] in "0123":  # a quarter ask about a given sentence: FANNO's `input` on the next line
                text = f"Rewrite the following sentence in plain words ({digest}):\n{' '.join(words[6:14])}"
            lps = None
            if sampling.logprobs:  # a deterministic yes/no split from the digest
                p_yes = int(digest[:2], 16) / 255 * 0.98 + 0.01
                p_five = int(digest[2:4], 16) / 255 * 0.98 + 0.01  # with "1": a 1..5 score spread
                lps = {"1": math.log(p_yes), "0": math.log(1 - p_yes), "5": math.log(p_five)}
                text = "1" if p_yes >= 0.5 else "0"
            else:  # test hook: text the "model" adds to every answer (planted PII for the masking test)
                text += os.environ.get("FANNO_FAKE_APPEND", "")
            out.append(Generation(text, "stop", len(last.split()), len(text.split()), lps))
        return out

    def close(self) -> None:
        pass

    @staticmethod
    def _inject_faults() -> None:
        """Fault-test hooks (env, inherited by Spark's Python workers): a slow engine, and a worker
        that dies by SIGKILL on its first batch (the marker file makes it happen once per test)."""
        delay = float(os.environ.get("FANNO_FAKE_DELAY_S", "0") or 0)
        if delay:
            time.sleep(delay)
        marker = os.environ.get("FANNO_FAKE_KILL_WORKER_ONCE")
        if marker:
            try:
                fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                return
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
            os.kill(os.getpid(), signal.SIGKILL)


class StreamingFakeEngine(FakeEngine):
    """The fake with a stream: WINDOW prompts in flight, answered last-in first-out, so answers come back out
    of the order they went in (as a real engine's do) and the stage must key them by prompt hash."""

    WINDOW = 5

    def stream(self, items, sampling, occupancy=None):
        window = []
        for item in list(items) + [None]:
            if item is not None:
                window.append(item)
            if window and (item is None or len(window) == self.WINDOW):
                if occupancy is not None:
                    occupancy.record(len(window))
                for key, conv in reversed(window):
                    yield key, self.generate([conv], sampling)[0]
                window = []
