"""One filesystem layer for the run dir and the input: URIs on any Hadoop filesystem, and local paths.

`HadoopFS` goes through the Spark JVM's `org.apache.hadoop.fs.FileSystem`, so it sees exactly the
schemes, credentials and settings the cluster's Spark uses (s3a://, gs://, abfss://, hdfs://,
viewfs://, dbfs:/ on Databricks, file://), and a path without a scheme means what Spark means by it:
the cluster's default filesystem. A library (fsspec, pyarrow.fs) would need its own credentials and
its own idea of the default filesystem, and could disagree with where Spark writes.
`LocalFS` is the same interface on the driver's disk, for code that runs before Spark exists.
Python workers on executors have no JVM gateway: `open_input` is the one place they open a URI, through
pyarrow's filesystems (HDFS through libhdfs, S3, GCS), for files too large to ship through Spark as rows.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Protocol

_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):")
# Schemes whose create(overwrite=false) is an atomic create-if-absent and whose rename is atomic; object
# stores check, then write, and rename by copying. On s3a:// create_new is a conditional PUT instead.
ATOMIC_CREATE_SCHEMES = ("file", "hdfs", "viewfs", "webhdfs", "swebhdfs")


def scheme(uri: str) -> str | None:
    m = _SCHEME.match(uri)
    return m.group(1).lower() if m and len(m.group(1)) > 1 else None  # "C:" is a drive, not a scheme


def join(base: str, *parts: str) -> str:
    out = base.rstrip("/")
    for p in parts:
        out = f"{out}/{p.strip('/')}"
    return out


def is_local(uri: str) -> bool:
    return scheme(uri) in (None, "file")


def local_path(uri: str) -> Path:
    """file:///x, file:/x or /x -> Path('/x')."""
    if uri.startswith("file://"):
        return Path(uri[len("file://"):])
    return Path(uri.removeprefix("file:"))


def display(uri: str) -> str:
    """A local URI prints as a plain path; any other URI as is."""
    return str(local_path(uri)) if is_local(uri) else uri


class FileSystem(Protocol):
    def qualify(self, uri: str) -> str: ...
    def exists(self, uri: str) -> bool: ...
    def is_dir(self, uri: str) -> bool: ...
    def list(self, uri: str) -> list[tuple[str, bool, int, float]]: ...  # (name, is_dir, size, mtime)
    def read_bytes(self, uri: str) -> bytes: ...
    def write_bytes(self, uri: str, data: bytes) -> None: ...
    def create_new(self, uri: str, data: bytes) -> bool: ...
    def delete(self, uri: str) -> None: ...
    def upload(self, local: Path, uri: str) -> None: ...
    def atomic_create(self, uri: str) -> bool: ...


class _TextMixin:
    def read_text(self, uri: str) -> str:
        return self.read_bytes(uri).decode("utf-8")

    def write_text(self, uri: str, text: str) -> None:
        self.write_bytes(uri, text.encode("utf-8"))

    def find(self, uri: str, depth: int = 16) -> list[str]:
        """Every file below uri (or uri itself), skipping names Spark/Hadoop hide ('_', '.')."""
        return [f for f, _ in self.walk(uri, depth)]

    def walk(self, uri: str, depth: int = 16) -> list[tuple[str, int]]:
        """(file URI, size) of every file below uri (or uri itself), hidden names ('_', '.') skipped."""
        if not self.is_dir(uri):
            return [(uri, next((size for _, _, size, _ in self._self_status(uri)), 0))] if self.exists(uri) else []
        out = []
        for name, is_dir, size, _ in self.list(uri):
            if name.startswith(("_", ".")):
                continue
            child = join(uri, name)
            if is_dir and depth > 0:
                out += self.walk(child, depth - 1)
            elif not is_dir:
                out.append((child, size))
        return sorted(out)

    def _self_status(self, uri: str) -> list[tuple[str, bool, int, float]]:
        """The status of a file itself: its parent's listing entry."""
        parent, _, name = uri.rstrip("/").rpartition("/")
        return [s for s in self.list(parent or "/") if s[0] == name]


class LocalFS(_TextMixin):
    """The driver's local disk (paths or file: URIs)."""

    def qualify(self, uri: str) -> str:
        return local_path(uri).resolve().as_uri()

    def exists(self, uri: str) -> bool:
        return local_path(uri).exists()

    def is_dir(self, uri: str) -> bool:
        return local_path(uri).is_dir()

    def list(self, uri: str) -> list[tuple[str, bool, int, float]]:
        p = local_path(uri)
        if not p.is_dir():
            return []
        out = []
        for c in sorted(p.iterdir()):
            try:
                st = c.stat()
            except OSError:  # a dangling link: listed, size 0
                out.append((c.name, False, 0, 0.0))
                continue
            out.append((c.name, c.is_dir(), st.st_size, st.st_mtime))
        return out

    def read_bytes(self, uri: str) -> bytes:
        return local_path(uri).read_bytes()

    def write_bytes(self, uri: str, data: bytes) -> None:
        p = local_path(uri)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(p.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(p)  # readers never see half a file

    def create_new(self, uri: str, data: bytes) -> bool:
        p = local_path(uri)
        p.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)  # atomic, also on NFS v3+
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return True

    def delete(self, uri: str) -> None:
        p = local_path(uri)
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)

    def upload(self, local: Path, uri: str) -> None:
        p = local_path(uri)
        p.parent.mkdir(parents=True, exist_ok=True)
        if Path(local).resolve() != p.resolve():
            shutil.copyfile(local, p)

    def atomic_create(self, uri: str) -> bool:
        return True


class HadoopFS(_TextMixin):
    """Hadoop FileSystem through the Spark JVM (py4j): the cluster's own view of every URI."""

    def __init__(self, spark):
        self._jvm = spark.sparkContext._jvm
        self._conf = spark.sparkContext._jsc.hadoopConfiguration()
        self._no_conditional: set[str] = set()  # s3a buckets whose store answered NotImplemented

    def _fs(self, uri: str):
        path = self._jvm.org.apache.hadoop.fs.Path(uri)
        return path.getFileSystem(self._conf), path

    def qualify(self, uri: str) -> str:
        """Absolute URI as Spark resolves it (no scheme: the default filesystem, relative to its working dir)."""
        if scheme(uri) is None and not uri.startswith("/") and self.default_scheme() == "file":
            uri = str(Path(uri).resolve())  # the driver's working dir, as Spark resolves local relative paths
        fs, path = self._fs(uri)
        return fs.makeQualified(path).toString()

    def default_scheme(self) -> str:
        return scheme(self._conf.get("fs.defaultFS", "file:///")) or "file"

    def exists(self, uri: str) -> bool:
        fs, path = self._fs(uri)
        return bool(fs.exists(path))

    def is_dir(self, uri: str) -> bool:
        fs, path = self._fs(uri)
        try:
            return bool(fs.getFileStatus(path).isDirectory())
        except Exception as exc:  # FileNotFoundException through py4j
            if "FileNotFound" in str(exc):
                return False
            raise

    def list(self, uri: str) -> list[tuple[str, bool, int, float]]:
        fs, path = self._fs(uri)
        if not fs.exists(path):
            return []
        return sorted((s.getPath().getName(), bool(s.isDirectory()), int(s.getLen()), s.getModificationTime() / 1000)
                      for s in fs.listStatus(path))

    def read_bytes(self, uri: str) -> bytes:
        fs, path = self._fs(uri)
        stream = fs.open(path)
        try:
            return bytes(self._jvm.org.apache.commons.io.IOUtils.toByteArray(stream))
        finally:
            stream.close()

    def write_bytes(self, uri: str, data: bytes) -> None:
        """Write, then rename into place where renames are atomic (HDFS, local); on object stores a
        single PUT is already all-or-nothing, so write the object directly."""
        fs, path = self._fs(uri)
        target = path
        if self._rename_is_atomic(uri):
            path = self._jvm.org.apache.hadoop.fs.Path(uri + ".tmp")
        out = fs.create(path, True)
        try:
            out.write(bytearray(data))
        finally:
            out.close()
        if path is not target:
            fs.delete(target, False)
            if not fs.rename(path, target):
                raise OSError(f"cannot rename {path} to {target}")

    def create_new(self, uri: str, data: bytes) -> bool:
        """Create uri with data unless it exists; True if this call created it. Atomic on HDFS and local
        disks (create(overwrite=false)) and on s3a:// where the store honours If-None-Match (S3 since 2024,
        MinIO): Hadoop 3.3's S3A client cannot send it, so that PUT goes through boto3 with S3A's settings."""
        if self._s3_conditional(uri):
            from .s3_conditional import ConditionalWritesUnsupported, put_if_absent

            try:
                return put_if_absent(self._conf, self.qualify(uri), data)
            except ConditionalWritesUnsupported:
                self._no_conditional.add(_bucket(uri))
        fs, path = self._fs(uri)
        try:
            out = fs.create(path, False)  # throws FileAlreadyExistsException when present
        except Exception as exc:
            if "AlreadyExists" in str(exc) or fs.exists(path):
                return False
            raise
        try:
            out.write(bytearray(data))
        finally:
            out.close()
        return True

    def delete(self, uri: str) -> None:
        fs, path = self._fs(uri)
        fs.delete(path, True)

    def upload(self, local: Path, uri: str) -> None:
        fs, path = self._fs(uri)
        fs.copyFromLocalFile(False, True, self._jvm.org.apache.hadoop.fs.Path(Path(local).resolve().as_uri()), path)

    def atomic_create(self, uri: str) -> bool:
        return self._rename_is_atomic(uri) or self._s3_conditional(uri)

    def _rename_is_atomic(self, uri: str) -> bool:
        return (scheme(self.qualify(uri)) or self.default_scheme()) in ATOMIC_CREATE_SCHEMES

    def _s3_conditional(self, uri: str) -> bool:
        """s3a:// with boto3 installed, unless the bucket's store already refused a conditional PUT."""
        if scheme(self.qualify(uri)) != "s3a" or _bucket(uri) in self._no_conditional:
            return False
        try:
            import boto3  # noqa: F401 - the optional `s3` extra
        except ImportError:
            return False
        return True


def _bucket(uri: str) -> str:
    return uri.split("://", 1)[-1].split("/", 1)[0]


@contextlib.contextmanager
def open_input(uri: str):
    """A binary stream of uri on an executor (no JVM there): a local path directly, any other URI through
    pyarrow's filesystems."""
    if is_local(uri):
        with open(local_path(uri), "rb") as fh:
            yield fh
        return
    from pyarrow import fs

    filesystem, inner = fs.FileSystem.from_uri(uri)
    with filesystem.open_input_stream(inner) as fh:
        yield fh


def staging_dir(prefix: str = "fanno-") -> Path:
    """A local temp folder for files a library can only write locally (plots, exports, MLflow)."""
    return Path(tempfile.mkdtemp(prefix=prefix))
