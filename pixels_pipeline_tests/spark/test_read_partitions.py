"""A small drop's rows read on the driver equal the Delta scan's, empty drops included."""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

from pixels_pipeline import api
from pixels_pipeline.samples import copy_drop, find_test_file
from pixels_pipeline.spark.delta_reader import read_partitions
from pixels_pipeline.storage.landing import Drop

NAMES = ("CT_small.dcm", "MR_small.dcm", "rtplan.dcm")
TABLE = "object_catalog"


def _rows(frame: DataFrame) -> list[tuple[object, ...]]:
    return sorted((tuple(r) for r in frame.collect()), key=repr)


def test_driver_read_equals_delta_scan(spark: SparkSession, tmp_path: Path) -> None:
    landing, lake = tmp_path / "landing", str(tmp_path / "lake")
    sources = [p for p in (find_test_file(n) for n in NAMES) if p is not None]
    copy_drop(landing, "a", sources)
    (landing / "a" / "notes.txt").write_text("not DICOM")
    copy_drop(landing, "b", sources[:1])
    api.update_catalog(spark, lake, [Drop(d, str(landing / d), None) for d in ("a", "b")])
    uri, schema = api.table_uri(lake, TABLE), api.TABLES[TABLE]

    expected = {("a",): len(sources) + 1, ("a", "b"): len(sources) + 2, ("never-dropped",): 0}
    for drops, count in expected.items():
        local, rows = read_partitions(spark, uri, schema, drops)
        scanned, none = read_partitions(spark, uri, schema, drops, max_rows=-1)  # a Delta scan
        assert rows is not None and rows.num_rows == count and none is None
        assert [(f.name, f.dataType) for f in local.schema] == [
            (f.name, f.dataType) for f in scanned.schema
        ]
        assert _rows(local) == _rows(scanned), drops
        assert len(_rows(local)) == count, drops
