"""The run directory, a URI: one Parquet folder per stage with a _SUCCESS marker (the unit of resume),
plus small JSON/YAML files, all written through the filesystem layer (fs.py). A stage named in `delta`
(output.format: delta) is a Delta table instead: its first commit in _delta_log is its completion marker."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pyspark.sql import DataFrame, SparkSession

from .fs import FileSystem, join
from .progress import StageProgress


@dataclass
class RunDir:
    root: str  # qualified URI (file:///..., hdfs://..., s3a://..., viewfs://...)
    spark: SparkSession
    fs: FileSystem
    log: Callable[[str], None] = print
    timings: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    progress_interval_s: float = 30.0
    delta: frozenset[str] = frozenset()  # stages written as Delta tables
    # stage -> its folder in a sweep's shared store (<sweep>/stages/<name>-<key>), instead of <root>/<name>:
    # every point whose stage has that key reads the one output (stage_keys.py)
    locations: dict[str, str] = field(default_factory=dict)

    def delta_committed(self, name: str) -> bool:
        """The table's first commit is there (written atomically by Delta's log store: a killed write leaves
        data files but no commit, and the stage runs again)."""
        return any(n.endswith(".json") and n[:-5].isdigit() for n, _, _, _ in self.fs.list(self.uri(name, "_delta_log")))

    def uri(self, *parts: str) -> str:
        if parts and parts[0] in self.locations:
            return join(self.locations[parts[0]], *parts[1:])
        return join(self.root, *parts)

    def store_metrics(self, name: str) -> str | None:
        """Where a shared stage's numbers live, beside its output in the store (None: not shared)."""
        return f"{self.locations[name]}.metrics.json" if name in self.locations else None

    def done(self, name: str, files: bool = False) -> bool:
        """A frame stage is done when Spark wrote its _SUCCESS; a file stage when its marker is there."""
        if files:
            return self.fs.exists(self.uri("done", f"{name}.json"))
        return self.delta_committed(name) if name in self.delta else self.fs.exists(self.uri(name, "_SUCCESS"))

    def mark_done(self, name: str, files: list[str]) -> None:
        """A file stage's marker (the files it wrote), written after them."""
        self.write_json(f"done/{name}.json", {"stage": name, "files": files})

    def read(self, name: str) -> DataFrame:
        if name in self.delta:
            return self.spark.read.format("delta").load(self.uri(name))
        return self.spark.read.parquet(self.uri(name))

    def stage(self, name: str, build: Callable[[], DataFrame], partitions: int | None = None) -> DataFrame:
        """Return the stage's stored output, computing and writing it first if it is not complete.

        Writing then reading back cuts the lineage, so later stages never recompute earlier ones.
        """
        if self.done(name):
            self.log(f"[{name}] complete in run dir, skipped")
            return self.read(name)
        sc = self.spark.sparkContext
        sc.setJobGroup(name, f"fanno-spark stage {name}", interruptOnCancel=True)
        start = time.time()
        with StageProgress(sc, name, self.log, self.progress_interval_s):
            df = build()
            if partitions:
                df = df.coalesce(partitions)
            self.fs.delete(self.uri(name))  # a partial write from a killed run (never a committed one: done)
            if name in self.delta:
                df.write.format("delta").mode("errorifexists").save(self.uri(name))  # one commit, version 0
            else:
                df.write.mode("overwrite").parquet(self.uri(name))  # Spark writes _SUCCESS last
        self.timings[name] = round(time.time() - start, 2)
        out = self.read(name)
        self.counts[name] = out.count()
        self.log(f"[{name}] {self.counts[name]} rows in {self.timings[name]}s")
        return out

    def write_parquet_once(self, name: str, df: DataFrame) -> None:
        """A side output (rejects) written unless already complete."""
        if not self.done(name):
            df.write.mode("overwrite").parquet(self.uri(name))

    def exists(self, rel: str) -> bool:
        return self.fs.exists(self.uri(rel))

    def read_json(self, rel: str):
        return json.loads(self.fs.read_text(self.uri(rel)))

    def write_json(self, rel: str, obj) -> str:
        uri = self.uri(rel)
        self.fs.write_text(uri, json.dumps(obj, indent=2, sort_keys=True, default=str))
        return uri

    def write_text(self, rel: str, text: str) -> str:
        uri = self.uri(rel)
        self.fs.write_text(uri, text)
        return uri
