"""Progress of long Spark jobs, reported to any log callback (the Dagster run log)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from pyspark.sql import SparkSession

from pixels_pipeline.spark.session import is_connect_session


@contextmanager
def report_progress(
    spark: SparkSession, log: Callable[[str], None], *, label: str, every_s: float = 10.0
) -> Iterator[None]:
    """Every ``every_s`` seconds while the block runs, log finished/total tasks of active stages.

    A Spark Connect session has no status tracker: there the block runs without reports."""
    if is_connect_session(spark):
        yield
        return
    stop = threading.Event()
    tracker = spark.sparkContext.statusTracker()

    def poll() -> None:
        while not stop.wait(every_s):
            stages = [tracker.getStageInfo(s) for s in tracker.getActiveStageIds()]
            done = sum(s.numCompletedTasks for s in stages if s is not None)
            total = sum(s.numTasks for s in stages if s is not None)
            if total:
                log(f"{label}: {done}/{total} tasks of {len(stages)} active Spark stage(s) done")

    thread = threading.Thread(target=poll, name=f"progress-{label}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=every_s)
