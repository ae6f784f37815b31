# Databricks notebook source
# MAGIC %md
# MAGIC # fanno-spark: FANNO instruction data on Spark
# MAGIC
# MAGIC Runs the same entry point as `spark-submit jobs/fanno.py` (`fanno_spark.cli.main`) on the cluster's
# MAGIC SparkSession. Widgets: the config file, the run directory, `key=value` overrides (one per line), resume, and
# MAGIC a grid (`key=v1,v2` per line): with a grid the notebook runs a sweep (`python -m fanno_spark sweep`), one
# MAGIC MLflow parent run with a child per point, sharing the pre-screen and the prompt cache between points.
# MAGIC On Databricks, install the wheel (`pip install fanno-spark[gpu]`) on the cluster, attach the
# MAGIC GraphFrames Maven library `graphframes:graphframes:0.8.2-spark3.1-s_2.12` and set
# MAGIC `spark.graphframes=provided`. Without `dbutils` (a plain `python notebooks/fanno_databricks.py`)
# MAGIC the widgets fall back to defaults (environment variables `FANNO_CONFIG`, `FANNO_OUTPUT`,
# MAGIC `FANNO_OVERRIDES`, `FANNO_RESUME`, `FANNO_GRID`), so the same file runs locally and in CI.

# COMMAND ----------

import os
import sys
from pathlib import Path

try:
    dbutils  # noqa: B018 - defined by Databricks in a notebook
    ON_DATABRICKS = True
except NameError:
    ON_DATABRICKS = False

if not ON_DATABRICKS:  # a source checkout run as a script: make the package importable
    root = Path(__file__).resolve().parents[1] if "__file__" in globals() else Path.cwd()
    sys.path.insert(0, str(root))
    os.chdir(root)

# COMMAND ----------

DEFAULTS = {"config": "conf/local.yaml", "output": "runs/notebook", "overrides": "", "resume": "false", "grid": ""}

if ON_DATABRICKS:
    dbutils.widgets.text("config", DEFAULTS["config"], "Config YAML")  # noqa: F821
    # A URI Spark and the driver read the same way (not the /dbfs FUSE path, which Spark would resolve
    # as dbfs:/dbfs/...): dbfs:/..., /Volumes/... (Unity Catalog volume), s3a://, abfss://, ...
    dbutils.widgets.text("output", "dbfs:/fanno/runs/notebook", "Run directory (URI)")  # noqa: F821
    dbutils.widgets.text("overrides", DEFAULTS["overrides"], "Overrides (key=value per line)")  # noqa: F821
    dbutils.widgets.dropdown("resume", "false", ["false", "true"], "Resume the run dir")  # noqa: F821
    dbutils.widgets.text("grid", DEFAULTS["grid"], "Sweep grid (key=v1,v2 per line; empty: one run)")  # noqa: F821
    params = {k: dbutils.widgets.get(k) for k in DEFAULTS}  # noqa: F821
else:
    params = {k: os.environ.get(f"FANNO_{k.upper()}", v) for k, v in DEFAULTS.items()}

overrides = [line.strip() for line in params["overrides"].replace(";", "\n").splitlines() if line.strip()]
grid = [line.strip() for line in params["grid"].replace(";", "\n").splitlines() if line.strip()]
if ON_DATABRICKS:
    overrides.append("spark.master=null")  # the cluster's session, never a local one
print(params, overrides, grid)

# COMMAND ----------

from fanno_spark.cli import main  # noqa: E402 - after the path set-up above
from fanno_spark.sweep import main as sweep_main  # noqa: E402

argv = ["--config", params["config"], "--output", params["output"]]
for o in overrides:
    argv += ["--set", o]
for g in grid:
    argv += ["--grid", g]
if params["resume"].lower() == "true":
    argv.append("--resume")
rc = sweep_main(argv) if grid else main(argv)
if rc != 0:
    raise SystemExit(f"fanno-spark failed with exit code {rc}")

# COMMAND ----------

# MAGIC %md
# MAGIC ## The dataset

# COMMAND ----------

import json  # noqa: E402

from pyspark.sql import SparkSession  # noqa: E402

from fanno_spark.fs import HadoopFS  # noqa: E402 - the run dir is read the way the job wrote it

fs = HadoopFS(SparkSession.builder.getOrCreate())
run_dir = fs.qualify(params["output"])
if grid:  # a sweep: its comparison, then the first point's dataset
    print(fs.read_text(f"{run_dir}/compare/compare.md"))
    run_dir = f"{run_dir}/points/p1"
metrics = json.loads(fs.read_text(f"{run_dir}/metrics.json"))
print({k: v for k, v in metrics.items() if k.startswith("final.")})
sample = json.loads(fs.read_text(f"{run_dir}/export/sample.json"))
for row in sample[:3]:
    print("-" * 80, "\n", row["instruction"], "\n>>>", row["output"][:300])
