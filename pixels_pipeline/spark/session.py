"""Build the Spark session the pipeline runs on: local, a cluster (``spark://``,
``k8s://``, ...) or a Spark Connect server (``sc://``)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

from pyspark.sql import SparkSession

from pixels_pipeline.spark.class_archive import archive_option
from pixels_pipeline.spark.jars import explain_start_failure, jar_conf

# Delta Lake: SQL extension (MERGE, OPTIMIZE, VACUUM, DESCRIBE HISTORY) and the catalog that
# makes `USING DELTA` tables. A Spark Connect server must be started with the same two.
DELTA_CONF: dict[str, str] = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}

# Settings every pipeline session needs: Arrow transfer, UTC timestamps, small shuffles.
_BASE_CONF: dict[str, str] = {
    **DELTA_CONF,
    "spark.sql.parquet.compression.codec": "zstd",
    # Tables stay readable by delta-rs' pyarrow scanner and polars (no deletion vectors).
    "spark.databricks.delta.properties.defaults.enableDeletionVectors": "false",
    # Delta rebuilds a table's state from its log in this many tasks (default 50): our
    # logs are small, and 50 tiny tasks per snapshot dominated small writes here.
    "spark.databricks.delta.snapshotPartitions": "4",
    # VACUUM lists a table's folders in a job of this many tasks (default 10,000): one
    # VACUUM of a small table took 166 s here, 17 s with 8.
    "spark.sql.sources.parallelPartitionDiscovery.parallelism": "8",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.execution.arrow.maxRecordsPerBatch": "256",
    "spark.sql.shuffle.partitions": "8",
    "spark.python.worker.reuse": "true",
    "spark.driver.memory": "2g",
    "spark.ui.showConsoleProgress": "false",
}
# The JVM of a local session (driver and executor in one) only moves Arrow batches and
# writes Parquet/Delta: the Python workers do the work. C1-only JIT and the serial
# collector halve its CPU time on 2 cores (thumbnails stage, 400 files: 33 -> 16 JVM
# CPU-ms per file on a fresh session, 21 -> 13 on a warm one); C2 compiler and G1
# threads otherwise compete with the Python workers for the same cores. C1 alone reserves
# only 48 MB for compiled code: Spark and Delta fill it within one incremental run of six
# assets ("CodeCache is full. Compiler has been disabled"), and the JVM then interprets
# everything it has not compiled yet, for good. 256 MB is reserved, not committed.
LOCAL_JAVA_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=256m -XX:+UseSerialGC"
_SNAPSHOT_PARTITIONS = "spark.databricks.delta.snapshotPartitions"
# One machine's tables have small logs: a state rebuilt in one task instead of four saved
# 0.15-0.2 s per asset step of a 10-file drop here (alternated runs), as every write and
# read rebuilds the state of the version it starts from.
_LOCAL_CONF = {"spark.driver.extraJavaOptions": LOCAL_JAVA_OPTIONS, _SNAPSHOT_PARTITIONS: "1"}

_SESSION_CONF = {
    k: v
    for k, v in _BASE_CONF.items()
    if (k.startswith(("spark.sql.", "spark.databricks.delta.")) and k not in DELTA_CONF)
    and k not in ("spark.sql.execution.arrow.pyspark.enabled", _SNAPSHOT_PARTITIONS)
}


def local_conf(master: str) -> dict[str, str]:
    """Settings for a JVM that runs driver and executor on this machine (``local[*]``):
    see :data:`LOCAL_JAVA_OPTIONS`, plus the class archive once recorded
    (:mod:`~pixels_pipeline.spark.class_archive`); the server of a Connect session owns
    them."""
    if not is_local(master):
        return {}
    class_path = jar_conf(master).get("spark.driver.extraClassPath", "")
    options = f"{LOCAL_JAVA_OPTIONS} {archive_option(class_path)}".strip()
    return {**_LOCAL_CONF, "spark.driver.extraJavaOptions": options}


@dataclass(frozen=True)
class SparkSettings:
    """Where and how to run Spark."""

    master: str = "local[*]"  # an sc://host:port master means a Spark Connect remote
    app_name: str = "pixels_pipeline"
    conf: Mapping[str, str] = field(default_factory=dict)  # extra spark.* settings


def get_spark(settings: SparkSettings | None = None) -> SparkSession:
    """Return the active session or start one.

    Python workers must run the driver's interpreter (``PYSPARK_PYTHON``), or they start
    the system python without the pipeline's packages.
    """
    cfg = settings or SparkSettings()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    if is_connect_url(cfg.master):
        # The server owns its static settings (memory, Python, Arrow): only session
        # settings can be set from here.
        remote = SparkSession.builder.remote(cfg.master).appName(cfg.app_name)
        for key, value in {**_SESSION_CONF, **dict(cfg.conf)}.items():
            remote = remote.config(key, value)
        return remote.getOrCreate()
    conf = {**_BASE_CONF, **local_conf(cfg.master), **jar_conf(cfg.master), **dict(cfg.conf)}
    builder = SparkSession.builder.master(cfg.master).appName(cfg.app_name)
    for key, value in conf.items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as error:
        raise explain_start_failure(error, conf) from error
    spark.sparkContext.setLogLevel("WARN")
    return spark


def server_conf() -> dict[str, str]:
    """The settings a pipeline session needs, for a server started outside Python (a Spark
    Connect server): Delta, Arrow, UTC, small shuffles."""
    return dict(_BASE_CONF)


def is_local(master: str) -> bool:
    """Whether ``master`` runs driver and executor in this machine's one JVM."""
    return master == "local" or master.startswith("local[")


def is_connect_url(master: str) -> bool:
    return master.startswith("sc://")


def default_parallelism(spark: SparkSession) -> int:
    """Cores Spark schedules on. A Spark Connect session has no ``sparkContext``: it uses
    ``spark.default.parallelism`` when the server sets it, else 2."""
    if is_connect_session(spark):
        value = spark.conf.get("spark.default.parallelism", None)
        return max(int(value), 1) if value else 2
    return max(spark.sparkContext.defaultParallelism, 1)


def is_connect_session(spark: SparkSession) -> bool:
    return type(spark).__module__.startswith("pyspark.sql.connect")


def target_partitions(spark: SparkSession, n_items: int, *, per_task: int) -> int:
    """Partitions for ``n_items`` so each task handles about ``per_task`` items, in whole
    waves of one task per core: a last wave of one task would leave the others idle."""
    cores = default_parallelism(spark)
    if n_items <= cores:
        return max(n_items, 1)
    tasks = -(-n_items // max(per_task, 1))
    return -(-tasks // cores) * cores
