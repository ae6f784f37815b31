"""Input checks: a missing, unreadable or empty corpus stops the job with one line instead of failing
inside a Spark task. Paths on the driver's disk are checked before Spark starts (check_input); any
other URI, and a path without a scheme on a cluster, right after, through the cluster's own
filesystem (check_remote_input), still before any stage runs."""

from __future__ import annotations

import gzip
from pathlib import Path

from ..config import InputConfig
from ..fs import FileSystem, local_path
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


def check_remote_input(cfg: InputConfig, fs: FileSystem) -> None:
    """The same promises for any URI, listed through fs: exists, holds files, not all empty."""
    path = cfg.path
    try:
        if not fs.exists(path):
            raise InputError(f"input.path: {path} does not exist")
        files = fs.find(path)
        sizes = {name: size for name, _, size, _ in fs.list(path)} if fs.is_dir(path) else None
    except InputError:
        raise
    except Exception as exc:  # py4j: no credentials, unknown scheme, access denied
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"input.path: cannot list {path}: {first[:300]}") from None
    if not files:
        raise InputError(f"input.path: {path} holds no files")
    if sizes is not None and sizes and all(v == 0 for v in sizes.values()) and len(files) == len(sizes):
        raise InputError(f"input.path: {path} is an empty corpus ({len(files)} file(s), no content)")
    if cfg.format == "auto":
        detect_format(path, fs)


def check_input(cfg: InputConfig) -> None:
    p = local_path(cfg.path)
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
