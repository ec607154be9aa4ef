"""Runs of one drop that overlap, transient failures, folders that fail to list: on real
files, real Spark and real Delta tables."""

import os
import shutil
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import deltalake
import pyarrow as pa
import pytest
from pyspark.sql import SparkSession

from pixels_pipeline import api
from pixels_pipeline.samples import copy_drop, find_test_file
from pixels_pipeline.spark.catalog import UNLISTED_FOLDER
from pixels_pipeline.spark.incremental import refresh_catalog
from pixels_pipeline.spark.schemas import OBJECT_CATALOG, spark_schema
from pixels_pipeline.storage.listing import FileEntry, unread_row

pytestmark = pytest.mark.spark


def real_files(*names: str) -> list[Path]:
    found = [find_test_file(n) for n in names]
    return [f for f in found if f is not None]


def catalog_names(lake: Path, drop_id: str) -> list[str]:
    rows = deltalake.DeltaTable(str(lake / "object_catalog")).to_pyarrow_table().to_pylist()
    return sorted(r["relative_path"] for r in rows if r["drop_id"] == drop_id)


def parquet_files(folder: Path) -> set[Path]:
    return set(folder.rglob("*.parquet")) if folder.exists() else set()


def test_a_run_overtaken_by_another_plans_again_and_loses_no_file(
    spark: SparkSession, tmp_path: Path
) -> None:
    """Run A lists three files and pauses before its commit; run B, started later, sees a
    fourth file and commits; A must not overwrite B's newer catalog with its stale one.
    Three files, not two: the pause's two write tasks both get rows however the catalog
    spreads them (two rows, one per partition, could both land in the paused task)."""
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    drop = copy_drop(landing, "race", real_files("CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm"))
    drops = [api.Drop("race", str(drop), None)]
    outcome: dict[str, Any] = {}

    def run_a() -> None:
        try:
            outcome["a"] = api.update_catalog(spark, str(lake), drops)
        except BaseException as exc:  # reported below
            outcome["a"] = exc

    os.environ["PIXELS_PIPELINE_PAUSE_BEFORE_COMMIT"] = "25"
    try:
        a = threading.Thread(target=run_a)
        a.start()
        partition = lake / "object_catalog" / "drop_id=race"
        deadline = time.monotonic() + 180
        while not parquet_files(partition) and time.monotonic() < deadline:
            time.sleep(0.2)  # A's first task wrote its file; the second one pauses
    finally:
        del os.environ["PIXELS_PIPELINE_PAUSE_BEFORE_COMMIT"]
    assert parquet_files(partition), "run A never started writing"
    shutil.copy2(real_files("rtplan.dcm")[0], drop / "rtplan.dcm")
    b = api.update_catalog(spark, str(lake), drops)
    assert b.commit is not None and not b.commit.skipped
    a.join(timeout=300)

    # A planned again from B's version (nothing left to do) or failed clearly; either way
    # the catalog holds every file of the folder.
    if isinstance(outcome["a"], BaseException):
        assert "changed while running" in str(outcome["a"]), outcome["a"]
    else:
        assert outcome["a"].commit is None  # re-planned: B's commit already holds it all
    assert catalog_names(lake, "race") == [
        "CT_small.dcm",
        "JPEG2000.dcm",
        "MR_small.dcm",
        "rtplan.dcm",
    ]


def test_transient_errors_are_retried_and_unlisted_folders_keep_their_rows(
    spark: SparkSession, tmp_path: Path
) -> None:
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    files = real_files("CT_small.dcm", "MR_small.dcm")
    drop = copy_drop(landing, "flaky", files)
    (drop / "series").mkdir()
    for f in real_files("rtplan.dcm", "JPEG2000.dcm"):
        shutil.copy2(f, drop / "series" / f.name)
    drops = [api.Drop("flaky", str(drop), None)]
    api.update_catalog(spark, str(lake), drops)

    def metadata_errors() -> dict[str, str | None]:
        api.update_table(
            spark,
            str(lake),
            "metadata",
            lambda catalog, n: api.metadata_rows(catalog, num_files=n),
            drop_ids=["flaky"],
        )
        rows = deltalake.DeltaTable(str(lake / "metadata")).to_pyarrow_table().to_pylist()
        return {r["path"].rsplit("/", 1)[-1]: r["error_type"] for r in rows}

    # MR_small.dcm is away while metadata is read (an I/O error of the moment) and comes
    # back unchanged: same size, same modification time, so the same fingerprint.
    away = tmp_path / "away.dcm"
    os.rename(drop / "MR_small.dcm", away)
    assert metadata_errors()["MR_small.dcm"] == "read_error"
    os.rename(away, drop / "MR_small.dcm")
    errors = metadata_errors()
    assert errors["MR_small.dcm"] is None, errors
    assert len(errors) == 4

    # The sub-folder fails to list: the listing has one read_error row for the folder
    # (what the listing tasks produce) and none for its files, whose rows stay.
    listing = api.catalog(spark, str(drop), drop_id="flaky").where(
        "relative_path NOT LIKE 'series/%'"
    )
    entry = FileEntry("flaky", str(drop), "series", 0, None)
    row = unread_row(
        entry,
        "unlisted",
        f"{UNLISTED_FOLDER}: PermissionError",
        False,
        datetime.now(timezone.utc),
    )
    folder_row = spark.createDataFrame(
        pa.Table.from_pylist([row], schema=OBJECT_CATALOG).to_pandas(),
        spark_schema(OBJECT_CATALOG),
    )
    refresh_catalog(
        spark,
        str(lake / "object_catalog"),
        listing.unionByName(folder_row),
        drop_ids=["flaky"],
    )
    assert catalog_names(lake, "flaky") == [
        "CT_small.dcm",
        "MR_small.dcm",
        "series",
        "series/JPEG2000.dcm",
        "series/rtplan.dcm",
    ]
    # Downstream keeps them too, and the folder row (transient) waits for the next listing.
    errors = metadata_errors()
    assert errors["rtplan.dcm"] is None and errors["JPEG2000.dcm"] is None
    assert errors["series"] == "read_error"
    api.update_catalog(spark, str(lake), drops)
    assert "series" not in catalog_names(lake, "flaky")
    assert "series" not in metadata_errors()
