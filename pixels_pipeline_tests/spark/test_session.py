"""The session builder's settings for a local JVM."""

from __future__ import annotations

from typing import Any

import pytest

from pixels_pipeline.spark.session import LOCAL_JAVA_OPTIONS, is_local


def test_local_masters_are_recognised() -> None:
    assert is_local("local") and is_local("local[2]") and is_local("local[*]")
    assert not is_local("spark://host:7077") and not is_local("sc://localhost:15002")
    assert not is_local("k8s://https://host:6443")


@pytest.mark.spark
def test_a_local_session_jvm_runs_with_c1_and_the_serial_collector(spark: Any) -> None:
    """The driver JVM was launched with the options (not merely given them as conf)."""
    # Spark puts its own JVM module options before ours.
    options = spark.sparkContext.getConf().get("spark.driver.extraJavaOptions")
    assert options.endswith(LOCAL_JAVA_OPTIONS)
    bean = spark.sparkContext._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean()
    arguments = set(bean.getInputArguments())
    assert set(LOCAL_JAVA_OPTIONS.split()) <= arguments
