# Databricks notebook source
# MAGIC %md
# MAGIC # fanno-spark: compare generation configs
# MAGIC
# MAGIC Puts the finished runs of one MLflow experiment side by side: the params that differ, the key
# MAGIC metrics (pairs, LLM calls per pair, tokens, stage seconds, verb–noun and tag coverage, diversity per
# MAGIC round), and two plots. The same code as `python -m fanno_spark compare --experiment NAME`.
# MAGIC Widgets: experiment, tracking URI (empty on Databricks = the workspace's MLflow), output folder.
# MAGIC Without `dbutils` they fall back to `FANNO_EXPERIMENT`, `FANNO_TRACKING_URI`, `FANNO_OUT`.

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

DEFAULTS = {"experiment": "fanno-spark", "tracking_uri": "", "out": "runs/compare"}
if ON_DATABRICKS:
    for key, label in (("experiment", "MLflow experiment"), ("tracking_uri", "Tracking URI"),
                       ("out", "Output folder")):
        dbutils.widgets.text(key, "/dbfs/fanno/compare" if key == "out" else DEFAULTS[key], label)  # noqa: F821
    params = {k: dbutils.widgets.get(k) for k in DEFAULTS}  # noqa: F821
    params["tracking_uri"] = params["tracking_uri"] or "databricks"
else:
    params = {k: os.environ.get(f"FANNO_{k.upper()}", v) for k, v in DEFAULTS.items()}
    params["tracking_uri"] = params["tracking_uri"] or f"sqlite:///{Path('runs/local/mlflow.db').resolve()}"
print(params)

# COMMAND ----------

from fanno_spark.compare import compare  # noqa: E402 - after the path set-up above

table, differing, plots = compare(params["tracking_uri"], params["experiment"], Path(params["out"]))
print("params that differ:", ", ".join(differing) or "none")
if ON_DATABRICKS:
    display(table)  # noqa: F821
else:
    print(table.to_string(index=False))

# COMMAND ----------

# MAGIC %md
# MAGIC ## Plots

# COMMAND ----------

for png in plots:
    print("plot:", png)
    if ON_DATABRICKS:
        from IPython.display import Image  # noqa: E402
        from IPython.display import display as show

        show(Image(filename=str(png)))
