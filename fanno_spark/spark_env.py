"""Process environment and SparkSession set-up (called by entry points only, never by stages)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .config import FannoConfig
from .fs import local_path

GRAPHFRAMES_JAR = "graphframes-0.8.2-spark3.1-s_2.12.jar"
# What cluster users pass (README, conf/cluster.yaml): the jars of requirements/jars.lock. Spark NLP is a Maven
# coordinate; GraphFrames' jar for Spark 3.5 is not served by this project's registry, so it ships with --jars.
CLUSTER_PACKAGES = "com.johnsnowlabs.nlp:spark-nlp_2.12:5.5.3"
# `make install` fetches requirements/jars.lock into <repo>/.jars; FANNO_JARS_DIR points elsewhere.
JARS_DIR = Path(os.environ.get("FANNO_JARS_DIR", Path(__file__).resolve().parent.parent / ".jars"))

# Offline, quiet, in-process engines; each is a default the user's environment may override.
ENV_DEFAULTS = {
    "SPARK_LOCAL_IP": "127.0.0.1",
    "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
    "VLLM_CPU_NUM_OF_RESERVED_CPU": "0",
    "VLLM_CPU_KVCACHE_SPACE": "1",
    "VLLM_NO_USAGE_STATS": "1",
    "VLLM_HOST_IP": "127.0.0.1",
    "VLLM_LOGGING_LEVEL": "WARNING",  # engine INFO lines drown the job's own progress log
    "VLLM_WORKER_MULTIPROC_METHOD": "spawn",  # Spark's Python workers fork; CUDA must not
    "DO_NOT_TRACK": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "PYARROW_IGNORE_TIMEZONE": "1",
}


def apply_env_defaults() -> None:
    for key, value in ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)


def locked_jars() -> list[Path]:
    """The jars of requirements/jars.lock as `make install` fetched them (checksums checked there)."""
    jars = sorted(JARS_DIR.glob("*.jar"))
    if not any(j.name == GRAPHFRAMES_JAR for j in jars):
        raise FileNotFoundError(f"{JARS_DIR / GRAPHFRAMES_JAR} not found: run `make install` (it fetches "
                                f"requirements/jars.lock), or pass --packages {CLUSTER_PACKAGES} --jars "
                                f"{GRAPHFRAMES_JAR} and set spark.graphframes=provided")
    return jars



def locked_jars_csv() -> str:
    """For spark-submit --jars and spark.jars."""
    return ",".join(str(j) for j in locked_jars())


def ensure_graphframes_importable(spark) -> None:
    """Make the `graphframes` Python module importable; it lives inside the jar."""
    try:
        import graphframes  # noqa: F401
        return
    except ImportError:
        pass
    jars = [j for j in spark.conf.get("spark.jars", "").split(",") if "graphframes" in j]
    bundled = JARS_DIR / GRAPHFRAMES_JAR
    for jar in jars + ([str(bundled)] if bundled.is_file() else []):
        path = str(local_path(jar))
        if Path(path).is_file() and path not in sys.path:
            sys.path.append(path)
            try:
                import graphframes  # noqa: F401
                return
            except ImportError:
                sys.path.remove(path)
    raise ImportError("the graphframes Python module is not importable: ship the GraphFrames jar")


class UnsupportedCompute(RuntimeError):
    """The session offers no JVM access (Spark Connect: Databricks shared-access or serverless)."""


def require_classic_session(spark) -> None:
    """The job uses the JVM side of Spark (Hadoop FileSystem for the run dir, checkpoint dir, job groups,
    status tracker, RDD stage-level scheduling, GraphFrames): fail here with one line, not deep in a stage."""
    try:
        spark.sparkContext._jvm.java.lang.System.currentTimeMillis()
    except Exception as exc:  # pyspark.errors.PySparkNotImplementedError / AttributeError under Spark Connect
        raise UnsupportedCompute(
            "this Spark session has no JVM access (Spark Connect: Databricks shared-access or serverless "
            "compute); run fanno-spark on a classic session (Databricks single-user / dedicated access mode, "
            f"a job cluster, spark-submit) [{type(exc).__name__}]") from None


def preload_modules(cfg: FannoConfig, master: str | None) -> dict[str, list[str]]:
    """What each pool's worker daemon imports before forking: MiniLM's libraries for the default pool,
    vLLM for the LLM pool (resources.llm_worker_pool). Empty: Spark's own daemon."""
    if cfg.spark.preload == "never" or (cfg.spark.preload == "auto" and not (master or "").startswith("local")):
        return {}
    from .prescreen.minilm import LIBRARIES

    return {"default": LIBRARIES, "llm": ["vllm"] if cfg.llm.engine == "vllm" else []}


def preload_conf(pools: dict[str, list[str]]) -> dict[str, str]:
    """Spark settings that start Python workers from fanno_spark.worker_daemon with each pool's modules
    imported (the LLM pool's list travels as FANNO_LLM_WORKER_PRELOAD; see resources.llm_worker_pool)."""
    return {
        "spark.python.daemon.module": "fanno_spark.worker_daemon",
        "spark.executorEnv.FANNO_WORKER_PRELOAD": ",".join(pools.get("default", [])),
        "spark.executorEnv.FANNO_LLM_WORKER_PRELOAD": ",".join(pools.get("llm", [])),
        # Spark keeps one daemon per distinct worker environment; SQL UDFs add SPARK_SIMPLIFIED_TRACEBACK,
        # RDD functions do not, so two daemons would each pay the imports. Full tracebacks keep it one.
        "spark.sql.execution.pyspark.udf.simplifiedTraceback.enabled": "false",
    }


# What a session needs for Delta tables (output.format: delta; Databricks sets both itself). Static settings:
# they must be there when the session starts.
DELTA_SESSION_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}


def build_spark(cfg: FannoConfig):
    """Create (or join) the SparkSession for a job. Only entry points call this."""
    apply_env_defaults()
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(cfg.spark.app_name)
    if cfg.spark.master:
        builder = builder.master(cfg.spark.master)
    threads = str(cfg.llm.threads or os.cpu_count() or 1)
    conf = {
        "spark.sql.shuffle.partitions": str(cfg.spark.shuffle_partitions),
        "spark.python.worker.reuse": "true",  # keeps the per-worker model caches alive
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.execution.arrow.maxRecordsPerBatch": "1024",
        "spark.executorEnv.OMP_NUM_THREADS": threads,  # PySpark would set 1 and halve vLLM's speed
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.memory": "4g",
        # embed.engine sparknlp: one ONNX thread per task core, not every core per task (bench P5)
        "spark.jsl.settings.onnx.intraOpNumThreads": cfg.spark.conf.get("spark.task.cpus", "1"),
    }
    for key in ENV_DEFAULTS:
        conf[f"spark.executorEnv.{key}"] = os.environ[key]
    # From a --py-files zip there is no .jars/ beside the package: spark-submit --jars hands the jars over
    # (checked once the session exists, by ensure_graphframes_importable).
    if cfg.spark.graphframes == "bundled" and (JARS_DIR / GRAPHFRAMES_JAR).is_file():
        conf["spark.jars"] = locked_jars_csv()
    master = cfg.spark.master
    if master is None:  # spark-submit's --master, read before the context exists
        from pyspark import SparkConf

        master = SparkConf().get("spark.master", None)
    if (master or "").startswith("local"):
        # One host: locality means nothing, and local mode never re-offers its cores on a timer, so a task
        # whose preferred host is spelled otherwise (an HDFS block on 127.0.0.1, the executor on localhost)
        # can wait for a locality level forever (seen: a GraphFrames checkpoint read back from HDFS).
        conf["spark.locality.wait"] = "0s"
    preload = preload_modules(cfg, master)
    if preload:
        conf.update(preload_conf(preload))
    if cfg.output.format == "delta":
        conf.update(DELTA_SESSION_CONF)
    conf.update(cfg.spark.conf)
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    require_classic_session(spark)
    spark.sparkContext.setLogLevel("WARN")
    ensure_graphframes_importable(spark)
    return spark
