"""Start a new session's Python workers in the background, with the task modules imported.

A session's first Python task waits for its worker to start and to import what the task
needs (pyarrow, pydicom, numpy, Pillow and the pipeline's modules), about a second on
2 cores. In a run, that first task is the drop listing of ``object_catalog``, at the head
of every other step. The workers start while the driver is busy with other things: the
catalog step reads the Delta log and plans before its listing, and the JVM-side Delta
work leaves a core free. Workers are reused (``spark.python.worker.reuse``), so the
tasks that follow find them ready.

Measured on 2 cores, an ``ingest`` run after 50 files were added to the benchmark's
5,000-file drop (a new session in the process's JVM, three runs each after a first one):
12.3-13.1 s with the warm-up against 14.8-17.2 s without; in a process's first JVM,
22.1 s against 26.0 s.

A warm-up that fails (a session stopped under it) changes nothing: the tasks then start
their workers themselves, as without it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pyarrow as pa
from pyspark.sql import SparkSession

from pixels_pipeline.spark.session import default_parallelism, is_connect_session

__all__ = ["TASK_MODULES", "warm_up_workers"]

# The modules of the pipeline's Python tasks (listing and sniffing, headers, images).
TASK_MODULES = (
    "pixels_pipeline.spark.catalog",
    "pixels_pipeline.spark.metadata",
    "pixels_pipeline.spark.images",
)
_DESCRIPTION = "pixels_pipeline: start Python workers"


def _import_task_modules(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    import importlib

    for name in TASK_MODULES:
        importlib.import_module(name)
    yield from batches


def warm_up_workers(spark: SparkSession) -> threading.Thread | None:
    """Run one small Python task per core in a background thread (returned), so the
    session's workers start now; None for a Spark Connect session (its server's workers
    outlive the session)."""
    if is_connect_session(spark):
        return None
    cores = default_parallelism(spark)

    def run() -> None:
        try:
            spark.sparkContext.setLocalProperty("spark.job.description", _DESCRIPTION)
            tasks = spark.range(0, cores, 1, cores)
            tasks.mapInArrow(_import_task_modules, "id long").collect()
        except Exception:  # an optimisation only: tasks start workers anyway
            pass

    thread = threading.Thread(target=run, name="pixels-worker-warmup", daemon=True)
    thread.start()
    return thread
