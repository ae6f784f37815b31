"""Input checks on the driver before Spark starts: a missing, unreadable or empty corpus stops the job
with one line instead of failing inside a Spark task (local and mounted paths; remote URIs are checked
by the readers)."""

from __future__ import annotations

import gzip
from pathlib import Path

from ..config import InputConfig
from .readers import InputError, detect_format

PROBE_FILES = 200  # open (and for .gz decompress the start of) at most this many files


def _files(p: Path) -> list[Path]:
    if p.is_file():
        return [p]
    return sorted(f for f in p.rglob("*") if not f.name.startswith((".", "_")) and (f.is_file() or f.is_symlink()))


def _has_bytes(f: Path) -> bool:
    """Opens the file (raises OSError when unreadable) and tells whether it holds any content."""
    if f.name.endswith(".gz"):
        with gzip.open(f, "rb") as fh:
            return bool(fh.read(64).strip())
    with open(f, "rb") as fh:
        return bool(fh.read(64).strip())


def check_input(cfg: InputConfig) -> None:
    path = cfg.path.removeprefix("file:")
    if "://" in path or path.startswith("dbfs:"):
        return
    p = Path(path)
    if not p.exists():
        raise InputError(f"input.path: {p} does not exist" + (" (a broken symlink)" if p.is_symlink() else ""))
    if cfg.format == "auto":
        detect_format(str(p))
    files = _files(p)
    if not files:
        raise InputError(f"input.path: {p} holds no files")
    with_content = 0
    for f in files[:PROBE_FILES]:
        try:
            with_content += _has_bytes(f)
        except (OSError, EOFError) as exc:
            raise InputError(f"input.path: cannot read {f}: {exc.strerror or exc}") from None
    if with_content == 0 and len(files) <= PROBE_FILES:
        raise InputError(f"input.path: {p} is an empty corpus ({len(files)} file(s), no content)")
