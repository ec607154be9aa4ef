"""The session builder's settings for a local JVM."""

from __future__ import annotations

from typing import Any

import pytest

from pixels_pipeline.spark.connect_server import server_command
from pixels_pipeline.spark.session import LOCAL_JAVA_OPTIONS, is_local, local_conf

SNAPSHOT_PARTITIONS = "spark.databricks.delta.snapshotPartitions"


def test_local_masters_are_recognised() -> None:
    assert is_local("local") and is_local("local[2]") and is_local("local[*]")
    assert not is_local("spark://host:7077") and not is_local("sc://localhost:15002")
    assert not is_local("k8s://https://host:6443")
    assert local_conf("spark://host:7077") == {}


def test_snapshot_partitions_one_on_a_local_jvm_four_elsewhere() -> None:
    """A local Connect server gets the local value; a cluster's server keeps four."""
    local = server_command(15002, master="local[*]")
    cluster = server_command(15002, master="spark://host:7077")
    assert f"{SNAPSHOT_PARTITIONS}=1" in local and f"{SNAPSHOT_PARTITIONS}=1" not in cluster
    assert f"{SNAPSHOT_PARTITIONS}=4" in cluster


@pytest.mark.spark
def test_a_local_session_jvm_runs_with_c1_and_the_serial_collector(spark: Any) -> None:
    """The driver JVM was launched with the options (not merely given them as conf)."""
    # Spark puts its own JVM module options before ours; the class archive's follows.
    options = spark.sparkContext.getConf().get("spark.driver.extraJavaOptions")
    assert LOCAL_JAVA_OPTIONS in options
    bean = spark.sparkContext._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean()
    arguments = set(bean.getInputArguments())
    assert set(LOCAL_JAVA_OPTIONS.split()) <= arguments
    assert spark.conf.get(SNAPSHOT_PARTITIONS) == "1"
