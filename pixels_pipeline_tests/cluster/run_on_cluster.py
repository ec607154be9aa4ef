"""Materialize one drop on the Spark master named by $PIXELS_SPARK_MASTER; print JSON.

Run as a separate process by the cluster test: the rest of the suite shares one local
SparkSession, and a process can hold only one SparkContext. Besides the run's outcome it
prints where tasks ran: the executors that completed tasks (from the driver's REST API)
and, from a probe job, the process ancestry of the Python workers that ran its tasks.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
from dagster import DagsterInstance, materialize
from pyspark import TaskContext

from pixels_pipeline.assets.metadata import metadata
from pixels_pipeline.assets.object_catalog import object_catalog
from pixels_pipeline.assets.thumbnails import thumbnails
from pixels_pipeline.resources import LakeResource, SparkResource


def ancestors(pid: int) -> list[int]:
    """``pid`` and its parents up to init, from /proc."""
    chain = [pid]
    while pid > 1:
        stat = Path(f"/proc/{pid}/stat").read_text()
        pid = int(stat.rsplit(")", 1)[1].split()[1])
        chain.append(pid)
    return chain


def probe(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """One row per task: the partition it handled and its Python worker's ancestry."""
    for _ in batches:
        pass
    ctx = TaskContext.get()
    yield pa.RecordBatch.from_pylist(
        [
            {
                "partition": ctx.partitionId() if ctx else -1,
                "ancestors": json.dumps(ancestors(os.getpid())),
            }
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--landing", required=True)
    parser.add_argument("--lake", required=True)
    parser.add_argument("--drop", required=True)
    parser.add_argument(
        "--runs", type=int, default=1, help="repeat (into fresh lakes) to time a warm session"
    )
    args = parser.parse_args()

    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("drops", [args.drop])
    # As deployed: no master in code, PIXELS_SPARK_MASTER in the environment picks it.
    spark = SparkResource(stop_at_teardown=False)
    seconds: list[float] = []
    success = True
    for i in range(args.runs):
        # Repeats write fresh lakes: into the same one, incremental ingest has nothing to do.
        lake = LakeResource(landing=args.landing, lake=args.lake if i == 0 else f"{args.lake}-{i}")
        start = time.perf_counter()
        result = materialize(
            [object_catalog, metadata, thumbnails],
            partition_key=args.drop,
            instance=instance,
            resources={"spark": spark, "lake": lake},
            raise_on_error=False,
        )
        seconds.append(time.perf_counter() - start)
        success = success and result.success

    session = spark.get_session()
    sc = session.sparkContext
    rows = (
        session.range(4, numPartitions=4)
        .mapInArrow(probe, "partition long, ancestors string")
        .collect()
    )
    url = f"{sc.uiWebUrl}/api/v1/applications/{sc.applicationId}/allexecutors"
    with urllib.request.urlopen(url, timeout=10) as response:
        executors: list[dict[str, Any]] = json.load(response)
    print(
        json.dumps(
            {
                "success": success,
                "seconds": seconds,
                "master": sc.master,
                "driver_pid": os.getpid(),
                "executors": [
                    {"id": e["id"], "host_port": e["hostPort"], "tasks": e["completedTasks"]}
                    for e in executors
                ],
                "probe": [
                    {"partition": r["partition"], "ancestors": json.loads(r["ancestors"])}
                    for r in rows
                ],
            }
        )
    )
    session.stop()


if __name__ == "__main__":
    main()
