"""The driver's "nothing changed" shortcut agrees with the Spark plan: an unchanged small
drop commits nothing (and runs no plan), every kind of change still goes to Spark."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from pyspark.sql import SparkSession

from pixels_pipeline import api
from pixels_pipeline.samples import copy_drop, find_test_file
from pixels_pipeline.spark.unchanged import catalog_unchanged
from pixels_pipeline.storage.landing import Drop

NAMES = ("CT_small.dcm", "MR_small.dcm", "rtplan.dcm")


def _drop(landing: Path) -> Drop:
    sources = [find_test_file(n) for n in NAMES]
    folder = copy_drop(landing, "quiet", [p for p in sources if p is not None])
    (folder / "sub").mkdir()
    (folder / "sub" / "notes.txt").write_text("not DICOM")
    return Drop("quiet", str(folder), None)


def test_unchanged_drop_is_recognised_and_each_change_is_not(
    spark: SparkSession, tmp_path: Path
) -> None:
    lake, drop = str(tmp_path / "lake"), _drop(tmp_path / "landing")
    catalog_uri = api.table_uri(lake, "object_catalog")
    assert not catalog_unchanged(catalog_uri, [drop])  # no table yet
    first = api.update_catalog(spark, lake, [drop])
    assert first.commit is not None and first.processed == len(NAMES) + 1
    assert catalog_unchanged(catalog_uri, [drop])
    version = api.table_version(lake, "object_catalog")
    again = api.update_catalog(spark, lake, [drop])
    assert again.commit is None and again.kept == len(NAMES) + 1
    assert api.table_version(lake, "object_catalog") == version

    folder = Path(drop.uri)
    # A touched file (new fingerprint), a new file, a deleted file, a symbolic link: each
    # is a change the shortcut must not hide; the Spark update then commits it.
    os.utime(folder / "CT_small.dcm", (1_900_000_000, 1_900_000_000))
    assert not catalog_unchanged(catalog_uri, [drop])
    assert api.update_catalog(spark, lake, [drop]).processed == 1
    assert catalog_unchanged(catalog_uri, [drop])
    shutil.copy2(folder / "MR_small.dcm", folder / "sub" / "copy.dcm")
    assert not catalog_unchanged(catalog_uri, [drop])
    assert api.update_catalog(spark, lake, [drop]).processed == 1
    (folder / "sub" / "notes.txt").unlink()
    assert not catalog_unchanged(catalog_uri, [drop])
    assert api.update_catalog(spark, lake, [drop]).removed == 1
    (folder / "link.dcm").symlink_to(folder / "MR_small.dcm")
    assert not catalog_unchanged(catalog_uri, [drop])
    api.update_catalog(spark, lake, [drop])
    assert not catalog_unchanged(catalog_uri, [drop])  # links are left to Spark, always


def test_downstream_tables_skip_the_plan_only_when_nothing_changed(
    spark: SparkSession, tmp_path: Path
) -> None:
    lake, drop = str(tmp_path / "lake"), _drop(tmp_path / "landing")
    api.update_catalog(spark, lake, [drop])
    for table, build in (
        ("metadata", lambda c, n: api.metadata_rows(c, num_files=n)),
        ("thumbnails", lambda c, n: api.thumbnail_rows(c, num_files=n)),
    ):
        first = api.update_table(spark, lake, table, build, drop_ids=["quiet"])
        assert first.commit is not None
        version = api.table_version(lake, table)
        again = api.update_table(spark, lake, table, build, drop_ids=["quiet"])
        assert again.commit is None and again.processed == 0, table
        assert api.table_version(lake, table) == version
    # thumbnails hold DICOM files only: the text file is not redone on every update.
    rows = api.count_rows(lake, "thumbnails", ["quiet"])["quiet"]
    assert rows == len(NAMES)
    os.utime(Path(drop.uri) / "MR_small.dcm", (1_900_000_000, 1_900_000_000))
    api.update_catalog(spark, lake, [drop])
    build = lambda c, n: api.metadata_rows(c, num_files=n)  # noqa: E731
    changed = api.update_table(spark, lake, "metadata", build, drop_ids=["quiet"])
    assert changed.processed == 1 and changed.commit is not None
