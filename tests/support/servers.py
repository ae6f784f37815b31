"""Real storage servers for the tests, on loopback, each a child process owned by its fixture: Hadoop's HDFS
mini cluster (a NameNode and a DataNode in one JVM) and an S3 API server. Both are started once per module
and stopped by process id; a test can stop and restart the storage underneath a running job."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
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
        while True:  # Hadoop may log to stdout too: the reply is the next OK / ERR line
            reply = self.proc.stdout.readline()
            assert reply, f"HDFS mini cluster exited; see {self.base / 'minihdfs.log'}"
            if reply.startswith(("OK ", "ERR ")):
                break
        assert reply.startswith("OK "), reply.strip()
        return reply.strip()

    def url(self, path: str) -> str:
        return f"{self.uri}/{path.lstrip('/')}"

    def put(self, local: Path, path: str) -> None:
        self.command("put", local, self.url(path))

    def get(self, path: str, local: Path) -> Path:
        self.command("get", self.url(path), local)
        return local

    def copy(self, src: str, dst: str) -> None:
        self.command("cp", self.url(src), self.url(dst))

    def mirror(self, path: str, local: Path, keep: tuple[str, ...] = ("mlflow.db",)) -> Path:
        """Make local a copy of the HDFS folder path (what the assertions read), keeping local's `keep` files."""
        staged = local.parent / f".{local.name}.pulled"
        shutil.rmtree(staged, ignore_errors=True)
        self.get(path, staged)
        local.mkdir(parents=True, exist_ok=True)
        for child in local.iterdir():
            if child.name not in keep:
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        for child in staged.iterdir():
            if not child.name.endswith(".crc"):
                child.rename(local / child.name)
        shutil.rmtree(staged)
        return local

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


def minio_binary() -> Path:
    """`make minio` builds it (FANNO_MINIO names it under `make test`)."""
    named = os.environ.get("FANNO_MINIO")
    found = [Path(named)] if named else sorted((ROOT / ".tools").glob("minio-*/minio"))
    assert found and found[-1].is_file(), "MinIO missing: run `make minio`"
    return found[-1]


class Minio:
    """MinIO on loopback, its data in a folder; `stop` and `start` again keep port and data (a store that
    goes away under a running job and comes back)."""

    user, password = "fanno", "fanno-secret-key"

    def __init__(self, base: Path):
        self.base, self.port, self.proc = base, free_port(), None
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> Minio:
        self.log = (self.base / "minio.log").open("a")
        self.proc = subprocess.Popen(
            [str(minio_binary()), "server", str(self.base / "data"), "--address", f"127.0.0.1:{self.port}",
             "--console-address", "127.0.0.1:0", "--quiet"],
            env=dict(os.environ, MINIO_ROOT_USER=self.user, MINIO_ROOT_PASSWORD=self.password,
                     MINIO_BROWSER="off", MINIO_UPDATE="off"), stdout=self.log, stderr=self.log)
        deadline = time.time() + timeout
        while time.time() < deadline:
            assert self.proc.poll() is None, f"MinIO exited; see {self.base / 'minio.log'}"
            try:
                with urllib.request.urlopen(f"{self.endpoint}/minio/health/ready", timeout=2):
                    return self
            except OSError:
                time.sleep(0.1)  # polled: the server answers within about half a second
        raise RuntimeError(f"MinIO not ready in {timeout}s; see {self.base / 'minio.log'}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=self.user,
                            aws_secret_access_key=self.password, region_name="us-east-1")

    def bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def spark_conf(self) -> dict[str, str]:
        """What a user sets for an S3-compatible store (README: S3 / MinIO)."""
        return {"spark.hadoop.fs.s3a.endpoint": self.endpoint, "spark.hadoop.fs.s3a.access.key": self.user,
                "spark.hadoop.fs.s3a.secret.key": self.password, "spark.hadoop.fs.s3a.path.style.access": "true",
                "spark.hadoop.fs.s3a.connection.ssl.enabled": "false",
                "spark.hadoop.fs.s3a.aws.credentials.provider":
                    "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"}

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))

    def mirror(self, bucket: str, prefix: str, local: Path) -> Path:
        """Download every object under prefix into local (what the assertions read)."""
        shutil.rmtree(local, ignore_errors=True)
        c = self.client()
        for key in self.keys(bucket, prefix.rstrip("/") + "/"):
            target = local / key[len(prefix.rstrip("/")) + 1:]
            target.parent.mkdir(parents=True, exist_ok=True)
            c.download_file(bucket, key, str(target))
        return local
