"""The jar lock: a jar whose sha256 differs from the lock stops the fetch with one line and leaves nothing;
the right one lands and a jar that left the lock is removed. A file: Maven repository stands in for Central."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def fetch(tmp_path: Path, lock_line: str) -> subprocess.CompletedProcess:
    lock = tmp_path / "jars.lock"
    lock.write_text("# test lock\n" + lock_line + "\n")
    env = {**os.environ, "FANNO_MAVEN_REPO": (tmp_path / "m2").as_uri()}
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "fetch_jars.py"), str(lock), str(tmp_path / "jars")],
                          capture_output=True, text=True, env=env)


def test_checksum_mismatch_stops_with_one_line_and_leaves_nothing(tmp_path):
    jar = tmp_path / "m2" / "org" / "example" / "tool" / "1.0" / "tool-1.0.jar"
    jar.parent.mkdir(parents=True)
    jar.write_bytes(b"PK\x03\x04 not the jar the lock pinned")
    (tmp_path / "jars").mkdir()
    (tmp_path / "jars" / "left-the-lock.jar").write_bytes(b"old")
    bad = fetch(tmp_path, f"maven:org.example:tool:1.0 {'0' * 64}")
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.count("\n") == 1 and bad.stderr.startswith("jar checksum mismatch: maven:org.example:tool:1.0")
    assert sorted(p.name for p in (tmp_path / "jars").iterdir()) == ["left-the-lock.jar"]  # no .part, no jar
    good = fetch(tmp_path, f"maven:org.example:tool:1.0 {hashlib.sha256(jar.read_bytes()).hexdigest()}")
    assert good.returncode == 0, good.stderr
    assert sorted(p.name for p in (tmp_path / "jars").iterdir()) == ["tool-1.0.jar"]
    assert good.stdout.startswith("jars ok: 1 in ")
