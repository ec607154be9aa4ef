"""The run's first step loads the snapshots of the tables the run writes, in the
background: Delta's cached snapshot of each existing table has its state computed
afterwards, a missing or broken table is skipped, and each table is loaded once per
session."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from pixels_pipeline import api
from pixels_pipeline.resources import SparkResource
from pixels_pipeline.samples import copy_drop, find_test_file
from pixels_pipeline.spark.object_store import spark_path
from pixels_pipeline.spark.snapshot_prefetch import prefetch_snapshots
from pixels_pipeline.storage.landing import Drop

NAMES = ("CT_small.dcm", "MR_small.dcm")


def _snapshot(spark: SparkSession, uri: str) -> Any:
    """Delta's cached snapshot of the table (the one a write starts from)."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    log = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, spark_path(uri))
    return log.unsafeVolatileSnapshot()


def _catalog(spark: SparkSession, tmp_path: Path) -> str:
    sources = [find_test_file(n) for n in NAMES]
    folder = copy_drop(tmp_path / "landing", "d1", [p for p in sources if p is not None])
    lake = str(tmp_path / "lake")
    api.update_catalog(spark, lake, [Drop("d1", str(folder), None)])
    return lake


def test_prefetch_computes_each_existing_table_state_and_skips_the_rest(
    spark: SparkSession, tmp_path: Path
) -> None:
    lake = _catalog(spark, tmp_path)
    catalog = api.table_uri(lake, "object_catalog")
    broken = api.table_uri(lake, "metadata")
    shutil.copytree(catalog, broken)
    for commit in (Path(broken) / "_delta_log").glob("*.json"):
        commit.write_text("not json\n")  # a log Delta cannot replay
    missing = api.table_uri(lake, "series")
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    jvm.org.apache.spark.sql.delta.DeltaLog.clearCache()
    assert not _snapshot(spark, catalog).stateReconstructionTriggered()

    thread = prefetch_snapshots(spark, [missing, broken, catalog])
    thread.join(timeout=120)

    assert not thread.is_alive()
    assert _snapshot(spark, catalog).stateReconstructionTriggered()
    assert not (Path(missing) / "_delta_log").exists()  # nothing is created
    # the catalog's rows are the same, whatever was loaded before
    assert spark.read.format("delta").load(spark_path(catalog)).count() == len(NAMES)


def test_resource_prefetches_each_table_once_per_session(
    spark: SparkSession, tmp_path: Path, monkeypatch: Any
) -> None:
    lake = _catalog(spark, tmp_path)
    catalog = api.table_uri(lake, "object_catalog")
    calls: list[list[str]] = []

    def record(session: SparkSession, uris: list[str], options: Any) -> None:
        calls.append(list(uris))

    monkeypatch.setattr("pixels_pipeline.resources.prefetch_snapshots", record)
    resource = SparkResource(master="local[2]", stop_at_teardown=False)
    series = api.table_uri(lake, "series")
    resource.prefetch_tables([catalog, series], None)
    resource.prefetch_tables([catalog, series], None)  # a later step of the same run
    resource.prefetch_tables([series, api.table_uri(lake, "studies")], None)
    assert calls == [[catalog, series], [api.table_uri(lake, "studies")]]
