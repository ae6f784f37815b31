"""The run directory: one Parquet folder per stage with a _SUCCESS marker (the unit of resume)."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

from .progress import StageProgress


@dataclass
class RunDir:
    root: Path
    spark: SparkSession
    log: Callable[[str], None] = print
    timings: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    progress_interval_s: float = 30.0

    def path(self, name: str) -> Path:
        return self.root / name

    def done(self, name: str) -> bool:
        return (self.path(name) / "_SUCCESS").exists()

    def read(self, name: str) -> DataFrame:
        return self.spark.read.parquet(str(self.path(name)))

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
            shutil.rmtree(self.path(name), ignore_errors=True)  # a partial write from a killed run
            df.write.mode("overwrite").parquet(str(self.path(name)))  # Spark writes _SUCCESS last
        self.timings[name] = round(time.time() - start, 2)
        out = self.read(name)
        self.counts[name] = out.count()
        self.log(f"[{name}] {self.counts[name]} rows in {self.timings[name]}s")
        return out

    def write_json(self, rel: str, obj) -> Path:
        p = self.root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(p.suffix + ".tmp")
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str))
        tmp.replace(p)
        return p
