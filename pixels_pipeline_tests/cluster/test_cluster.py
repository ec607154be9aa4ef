"""The same drop on a Spark standalone cluster and in local mode: the same tables, and
the work really ran in the cluster's executor processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import deltalake
import pyarrow as pa
import pytest
from dagster import DagsterInstance, materialize

from pixels_pipeline.assets.metadata import metadata
from pixels_pipeline.assets.object_catalog import object_catalog
from pixels_pipeline.assets.thumbnails import thumbnails
from pixels_pipeline.resources import LakeResource, SparkResource

from ..conftest import TEST_FILES_DROP
from .conftest import Cluster

pytestmark = [pytest.mark.cluster, pytest.mark.spark, pytest.mark.dagster]

TABLES = ("object_catalog", "metadata", "thumbnails")
RUNNER = Path(__file__).with_name("run_on_cluster.py")


def contents(lake: Path, table: str) -> pa.Table:
    """A table's rows without the per-run timestamp, sorted by path."""
    data = deltalake.DeltaTable(str(lake / table)).to_pyarrow_table()
    if "ingested_at" in data.column_names:
        data = data.drop_columns(["ingested_at"])
    return data.sort_by("path").combine_chunks()


def run_on_cluster(cluster: Cluster, landing: Path, lake: Path) -> dict[str, Any]:
    env = {
        **os.environ,
        "PIXELS_SPARK_MASTER": cluster.master_url,
        "PYSPARK_PYTHON": sys.executable,
        "SPARK_LOCAL_IP": "127.0.0.1",
    }
    args = ["--landing", str(landing), "--lake", str(lake)]
    done = subprocess.run(
        [sys.executable, str(RUNNER), *args, "--drop", TEST_FILES_DROP],
        capture_output=True,
        text=True,
        timeout=600,  # a guard against a hang, not a speed check
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_cluster_run_matches_local_and_runs_in_executors(
    spark: object, spark_cluster: Cluster, landing: Path, tmp_path: Path
) -> None:
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("drops", [TEST_FILES_DROP])
    start = time.perf_counter()
    local = materialize(
        [object_catalog, metadata, thumbnails],
        partition_key=TEST_FILES_DROP,
        instance=instance,
        resources={
            "spark": SparkResource(master="local[2]", stop_at_teardown=False),
            "lake": LakeResource(landing=str(landing), lake=str(tmp_path / "local")),
        },
    )
    local_seconds = time.perf_counter() - start
    assert local.success

    report = run_on_cluster(spark_cluster, landing, tmp_path / "cluster")
    assert report["success"]
    assert report["master"] == spark_cluster.master_url
    for table in TABLES:
        on_cluster = contents(tmp_path / "cluster", table)
        assert on_cluster.num_rows > 0, table
        assert on_cluster.equals(contents(tmp_path / "local", table)), table

    # Tasks completed on a cluster executor, none on the driver ...
    tasks = {e["id"]: e["tasks"] for e in report["executors"]}
    assert tasks.get("driver", 0) == 0
    assert sum(n for e, n in tasks.items() if e != "driver") > 0
    # ... and their Python workers descend from the cluster's worker, not from the driver.
    assert len(report["probe"]) == 4
    for task in report["probe"]:
        assert spark_cluster.worker_pid in task["ancestors"]
        assert report["driver_pid"] not in task["ancestors"]
    print(
        f"\nsame drop, object_catalog+metadata+thumbnails: local[2] {local_seconds:.1f} s, "
        f"cluster (1 executor, 1 core) {report['seconds'][0]:.1f} s"
    )
