import pytest

from fanno_spark.prescreen.minilm import LIBRARIES
from fanno_spark.spark_env import (
    DELTA_SESSION_CONF,
    apply_env_defaults,
    ensure_graphframes_importable,
    locked_jars_csv,
    preload_conf,
)


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    apply_env_defaults()
    from pyspark.sql import SparkSession

    s = (SparkSession.builder.master("local[2]").appName("fanno-tests")
         .config("spark.sql.shuffle.partitions", "2")
         .config("spark.default.parallelism", "2")
         .config("spark.jars", locked_jars_csv())
         .config("spark.python.worker.reuse", "true")
         .config("spark.ui.enabled", "false")
         .config("spark.sql.execution.arrow.pyspark.enabled", "true")
         # as a local job runs: MiniLM's libraries imported once, in the daemon that forks the workers
         .config(map=preload_conf({"default": LIBRARIES}))
         .config(map=DELTA_SESSION_CONF)  # Delta Lake's tables (test_delta_output) beside plain Parquet
         .getOrCreate())
    s.sparkContext.setLogLevel("ERROR")
    s.sparkContext.setCheckpointDir(str(tmp_path_factory.mktemp("ckpt")))
    ensure_graphframes_importable(s)
    yield s
    s.stop()
