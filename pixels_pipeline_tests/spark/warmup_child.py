"""Child process for the worker warm-up test: a fresh local session, probed before and
after the Spark resource's warm-up; prints the probes as JSON."""

import json
import os
import sys
import threading
from collections.abc import Iterator

import pyarrow as pa

from pixels_pipeline.resources import SparkResource
from pixels_pipeline.spark.session import SparkSettings, get_spark
from pixels_pipeline.spark.worker_warmup import TASK_MODULES

CONF = {"spark.ui.enabled": "false"}


def probe(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Per task: the worker's pid and whether it had every task module imported."""
    ready = all(name in sys.modules for name in TASK_MODULES)
    for batch in batches:
        n = batch.num_rows
        yield pa.RecordBatch.from_pydict({"pid": [os.getpid()] * n, "ready": [ready] * n})


def run_probe(spark: object) -> list[dict[str, object]]:
    frame = spark.range(0, 2, 1, 2).mapInArrow(probe, "pid long, ready boolean")  # type: ignore[attr-defined]
    return [row.asDict() for row in frame.collect()]


def main() -> None:
    spark = get_spark(SparkSettings(master="local[2]", conf=CONF))
    before = run_probe(spark)  # the session's first Python tasks: workers start bare
    resource = SparkResource(master="local[2]", spark_config=CONF)
    assert resource.get_session() is spark  # the resource's session starts the warm-up
    warmups = [t for t in threading.enumerate() if t.name == "pixels-worker-warmup"]
    for thread in warmups:
        thread.join(timeout=120)
    after = run_probe(spark)
    print(json.dumps({"warmups": len(warmups), "before": before, "after": after}))
    spark.stop()


if __name__ == "__main__":
    main()
