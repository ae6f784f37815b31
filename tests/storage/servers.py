"""Real storage servers for the tests, on loopback, each a child process owned by its fixture: Hadoop's HDFS
mini cluster (a NameNode and a DataNode in one JVM) and an S3 API server. Both are started once per module
and stopped by process id; a test can stop and restart the storage underneath a running job."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pyspark

ROOT = Path(__file__).resolve().parents[2]
TEST_JARS = ROOT / ".jars" / "test"  # requirements/test-jars.lock, fetched by `make install`
SPARK_JARS = Path(pyspark.__file__).parent / "jars"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MiniHdfs:
    """`MiniHdfs.java` in source-file mode over hadoop-client-minicluster and Spark's own Hadoop client jars
    (the Hadoop version the job talks with)."""

    def __init__(self, base: Path):
        self.base, self.proc, self.uri = base, None, ""

    def start(self, timeout: float = 180) -> MiniHdfs:
        jar = TEST_JARS / "hadoop-client-minicluster-3.3.4.jar"
        assert jar.is_file(), f"{jar} missing: run `make install`"
        self.log = (self.base / "minihdfs.log").open("w")
        self.proc = subprocess.Popen(
            ["java", "-Xmx1g", "-cp", f"{jar}:{SPARK_JARS}/*", str(Path(__file__).with_name("MiniHdfs.java")),
             str(self.base / "dfs")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            line = self.proc.stdout.readline()  # blocks until the launcher prints; EOF if it died
            if line.startswith("READY "):
                self.uri = line.split()[1]
                return self
            if not line and self.proc.poll() is not None:
                break
        raise RuntimeError(f"HDFS mini cluster did not start; see {self.base / 'minihdfs.log'}")

    def command(self, *words: str) -> str:
        self.proc.stdin.write(" ".join(map(str, words)) + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline().strip()
        assert reply.startswith("OK "), reply
        return reply

    def url(self, path: str) -> str:
        return f"{self.uri}/{path.lstrip('/')}"

    def put(self, local: Path, path: str) -> None:
        self.command("put", local, self.url(path))

    def get(self, path: str, local: Path) -> Path:
        self.command("get", self.url(path), local)
        return local

    def copy(self, src: str, dst: str) -> None:
        self.command("cp", self.url(src), self.url(dst))

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=60)
            except (OSError, subprocess.TimeoutExpired):
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
