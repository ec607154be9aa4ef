"""Progress reports of steps that share one session at the same time: each reports the
stages of its own jobs only."""

from __future__ import annotations

import threading
import time

import pytest
from pyspark.sql import SparkSession
from pyspark.sql.functions import udf

from pixels_pipeline.spark.progress import report_progress

pytestmark = pytest.mark.spark


def _slow(x: int) -> int:
    time.sleep(0.4)
    return x


def test_each_block_reports_its_own_jobs_only(spark: SparkSession) -> None:
    logs: dict[str, list[str]] = {"busy": [], "idle": []}
    idle_entered, busy_done = threading.Event(), threading.Event()

    def idle() -> None:
        with report_progress(spark, logs["idle"].append, label="idle", every_s=0.2):
            idle_entered.set()
            busy_done.wait(60)

    thread = threading.Thread(target=idle)
    thread.start()
    assert idle_entered.wait(60)
    try:
        with report_progress(spark, logs["busy"].append, label="busy", every_s=0.2):
            spark.range(0, 8, 1, 2).select(udf(_slow, "long")("id")).collect()
    finally:
        busy_done.set()
        thread.join(60)
    assert logs["busy"] and all(m.startswith("busy: ") for m in logs["busy"])
    assert logs["idle"] == []  # the busy block's stages are not the idle block's
    # the thread's job group is cleared again: later jobs carry none
    assert spark.sparkContext.getLocalProperty("spark.jobGroup.id") is None
