"""Progress of long Spark jobs, reported to any log callback (the Dagster run log)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from pyspark.sql import SparkSession

from pixels_pipeline.spark.session import is_connect_session

_GROUP = "spark.jobGroup.id"
_DESCRIPTION = "spark.job.description"


@contextmanager
def report_progress(
    spark: SparkSession, log: Callable[[str], None], *, label: str, every_s: float = 10.0
) -> Iterator[None]:
    """Every ``every_s`` seconds while the block runs, log finished/total tasks of the
    active stages of the block's own jobs.

    Steps of one run may share the session at the same time (in threads): the block's
    jobs carry a job group of their own (a thread-local property, inherited by the
    threads Delta starts for them), so a step reports its stages only. A Spark Connect
    session has no status tracker: there the block runs without reports."""
    if is_connect_session(spark):
        yield
        return
    sc = spark.sparkContext
    group = f"pixels-{label}-{uuid.uuid4().hex[:12]}"
    previous = sc.getLocalProperty(_GROUP), sc.getLocalProperty(_DESCRIPTION)
    sc.setJobGroup(group, label)
    stop = threading.Event()
    tracker = sc.statusTracker()

    def poll() -> None:
        while not stop.wait(every_s):
            mine = set()
            for job_id in tracker.getJobIdsForGroup(group):
                job = tracker.getJobInfo(job_id)
                if job is not None:
                    mine.update(job.stageIds)
            stages = [tracker.getStageInfo(s) for s in tracker.getActiveStageIds() if s in mine]
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
        for key, value in zip((_GROUP, _DESCRIPTION), previous, strict=True):
            sc.setLocalProperty(key, value)  # type: ignore[arg-type]  # None removes it
