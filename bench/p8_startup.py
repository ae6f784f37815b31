"""P8: Spark session start-up with and without Spark NLP on the classpath, alternating, each in a fresh JVM
(local[2], the locked jars): seconds to a session that has run one job, and with Spark NLP, seconds more to fit
and run DocumentAssembler -> SentenceDetector -> Tokenizer on one document (its first annotator load)."""

from __future__ import annotations

import json
import subprocess
import sys

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from fanno_spark.spark_env import apply_env_defaults, locked_jars
apply_env_defaults()
from pyspark.sql import SparkSession
nlp = sys.argv[1] == "1"
jars = [str(j) for j in locked_jars() if nlp or "graphframes" in j.name]
spark = (SparkSession.builder.master("local[2]").config("spark.jars", ",".join(jars))
         .config("spark.ui.enabled", "false").getOrCreate())
spark.range(10).count()
t1 = time.perf_counter()
out = {"session_s": t1 - t0}
if nlp:
    import sparknlp  # noqa: F401
    from pyspark.ml import Pipeline
    from sparknlp.annotator import SentenceDetector, Tokenizer
    from sparknlp.base import DocumentAssembler
    df = spark.createDataFrame([("One sentence. Another one.",)], "text string")
    p = Pipeline(stages=[DocumentAssembler().setInputCol("text").setOutputCol("document"),
                         SentenceDetector().setInputCols(["document"]).setOutputCol("sentence"),
                         Tokenizer().setInputCols(["sentence"]).setOutputCol("token")]).fit(df)
    p.transform(df).select("token.result").collect()
    out["first_annotators_s"] = time.perf_counter() - t1
spark.stop()
print("P8=" + json.dumps(out))
"""


def _once(nlp: bool) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, "1" if nlp else "0"], capture_output=True, text=True,
                          check=True)
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("P8="))
    return json.loads(line[3:])


def run(_spark=None, repeats: int = 3) -> list[dict]:
    runs: dict[bool, list[dict]] = {False: [], True: []}
    for _ in range(repeats):
        for nlp in (False, True):  # alternating, so drift on a noisy machine hits both alike
            runs[nlp].append(_once(nlp))
    rows = []
    for nlp in (False, True):
        s = sorted(r["session_s"] for r in runs[nlp])
        row = {"bench": "P8", "what": f"session start-up, local[2], {'with' if nlp else 'without'} Spark NLP on "
                                      f"the classpath ({repeats} runs alternating, median; all: "
                                      f"{', '.join(f'{x:.1f}' for x in s)} s)",
               "seconds": round(s[len(s) // 2], 1)}
        if nlp:
            f = sorted(r["first_annotators_s"] for r in runs[nlp])
            row["what"] += f"; first annotator pipeline {f[len(f) // 2]:.1f} s more"
        rows.append(row)
    rows.append({"bench": "P8", "what": "ratio with / without Spark NLP (session start-up)",
                 "ratio": round(rows[1]["seconds"] / rows[0]["seconds"], 2)})
    return rows
