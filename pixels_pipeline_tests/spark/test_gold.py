"""Gold ``series`` and ``studies`` against an independent pydicom computation over the
same files, through added, deleted and removed drops (real Spark, Delta, CDF)."""

from __future__ import annotations

import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.errors import InvalidDicomError
from pyspark.sql import SparkSession

from pixels_pipeline import api
from pixels_pipeline.samples import copy_drop, find_test_file

from ..series_files import AXIAL, SAGITTAL, uid, write_slices

pytestmark = pytest.mark.spark


def ingest(spark: SparkSession, landing: Path, lake: str, drop_ids: list[str]) -> None:
    """Catalog and metadata of the drops in one run, as the ingest job's first two steps
    do for a backfill (one commit per table)."""
    drops = [api.Drop(d, str(landing / d), None) for d in drop_ids]
    api.update_catalog(spark, lake, drops)
    api.update_table(
        spark, lake, "metadata", lambda c, n: api.metadata_rows(c, num_files=n), drop_ids=drop_ids
    )


def expected(landing: Path) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Series and studies computed with pydicom and numpy alone from the landing zone."""
    files: dict[str, list[tuple[str, Path, Any]]] = defaultdict(list)
    for path in sorted(landing.rglob("*")):
        if not path.is_file() or path.name == "_SUCCESS":
            continue
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except InvalidDicomError:
            continue
        files[str(ds.SeriesInstanceUID)].append((path.relative_to(landing).parts[0], path, ds))
    series: dict[str, dict[str, Any]] = {}
    studies: dict[str, dict[str, Any]] = defaultdict(
        lambda: {
            "series": set(),
            "sops": set(),
            "files": 0,
            "bytes": 0,
            "drops": set(),
            "mod": set(),
        }
    )
    for series_uid, items in files.items():
        sops = {str(ds.SOPInstanceUID) for _, _, ds in items}
        row: dict[str, Any] = {
            "study_instance_uid": str(items[0][2].StudyInstanceUID),
            "modality": str(items[0][2].Modality),
            "instance_count": len(sops),
            "file_count": len(items),
            "frame_count": sum(
                int(getattr(ds, "NumberOfFrames", 1) or 1)
                for ds in {str(ds.SOPInstanceUID): ds for _, _, ds in items}.values()
            ),
            "total_bytes": sum(p.stat().st_size for _, p, _ in items),
            "drop_ids": sorted({d for d, _, _ in items}),
            **volume(items),
        }
        series[series_uid] = row
        study = studies[row["study_instance_uid"]]
        study["series"].add(series_uid)
        study["sops"] |= sops
        study["files"] += len(items)
        study["bytes"] += row["total_bytes"]
        study["drops"] |= set(row["drop_ids"])
        study["mod"].add(row["modality"])
    return series, {
        k: {
            "series_count": len(v["series"]),
            "instance_count": len(v["sops"]),
            "file_count": v["files"],
            "total_bytes": v["bytes"],
            "drop_ids": sorted(v["drops"]),
            "modalities": sorted(v["mod"]),
        }
        for k, v in studies.items()
    }


def volume(items: list[tuple[str, Path, Any]]) -> dict[str, Any]:
    """Geometry by hand: orientations, steps along the normal, duplicates, gaps."""
    placed = [
        ds for _, _, ds in items if "ImagePositionPatient" in ds and "ImageOrientationPatient" in ds
    ]
    orientations = {tuple(round(float(v), 4) for v in ds.ImageOrientationPatient) for ds in placed}
    out: dict[str, Any] = {"orientation_count": len(orientations)}
    if len(orientations) != 1:
        return {
            **out,
            "slice_spacing_mean": None,
            "missing_positions": None,
            "is_regular_volume": False,
        }
    o = np.array(next(iter(orientations)))
    normal = np.cross(o[:3], o[3:])
    z = np.sort([np.dot(normal, np.array(ds.ImagePositionPatient, dtype=float)) for ds in placed])
    steps = np.diff(z)
    duplicates = int(np.sum(steps < 1e-3))
    steps = steps[steps >= 1e-3]
    if steps.size == 0:
        return {
            **out,
            "slice_spacing_mean": None,
            "missing_positions": 0,
            "is_regular_volume": False,
        }
    unit = float(np.median(steps))
    missing = int(sum(round(s / unit) - 1 for s in steps))
    sizes = {(int(ds.Rows), int(ds.Columns)) for _, _, ds in items}
    return {
        **out,
        "slice_spacing_min": float(steps.min()),
        "slice_spacing_mean": float(steps.mean()),
        "slice_spacing_max": float(steps.max()),
        "duplicate_positions": duplicates,
        "missing_positions": missing,
        "is_regular_volume": duplicates == 0
        and missing == 0
        and len(sizes) == 1
        and len(placed) == len(items)
        and float(steps.max() - steps.min()) < 0.01,
    }


def table(spark: SparkSession, lake: str, name: str, key: str) -> dict[str, dict[str, Any]]:
    rows = api.read_table(spark, lake, name).collect()
    out = {r[key]: r.asDict() for r in rows}
    assert len(out) == len(rows), f"{name} holds a UID twice"
    return out


def assert_gold_matches(spark: SparkSession, landing: Path, lake: str) -> None:
    want_series, want_studies = expected(landing)
    series = table(spark, lake, "series", "series_instance_uid")
    studies = table(spark, lake, "studies", "study_instance_uid")
    assert set(series) == set(want_series)
    assert set(studies) == set(want_studies)
    for key, want in [*want_series.items(), *want_studies.items()]:
        got = series.get(key) or studies[key]
        for column, value in want.items():
            if isinstance(value, float):
                assert got[column] == pytest.approx(value, abs=1e-6), (key, column)
            else:
                assert got[column] == value, (key, column)


def test_series_and_studies_follow_metadata(spark: SparkSession, tmp_path: Path) -> None:
    landing, lake = tmp_path / "landing", str(tmp_path / "lake")
    a, b = landing / "drop-a", landing / "drop-b"
    # Study s1 split over two drops: series "regular" (2.5 mm) is too, "gap" lacks z=6.
    write_slices(a, study="s1", series="regular", slices=[((0, 0, z), AXIAL) for z in (0, 2.5, 5)])
    write_slices(
        b,
        study="s1",
        series="regular",
        slices=[((0, 0, z), AXIAL) for z in (7.5, 10)],
        first_index=3,
    )
    write_slices(a, study="s1", series="gap", slices=[((0, 0, z), AXIAL) for z in (0, 3, 9, 12)])
    two = [((0, 0, 0.0), AXIAL), ((0, 0, 5.0), AXIAL), ((0, 0, 0), SAGITTAL), ((4, 0, 0), SAGITTAL)]
    write_slices(b, study="s2", series="two-orientations", slices=two)
    real = [find_test_file(n) for n in ("MR_small.dcm", "CT_small.dcm", "README.txt")]
    copy_drop(landing, "drop-a", [p for p in real if p is not None])
    (b / "_SUCCESS").write_text("")

    ingest(spark, landing, lake, ["drop-a", "drop-b"])
    # Both ways to compute an update are checked: Spark jobs (driver_max_rows=0) and the
    # driver (inputs this small are read with delta-rs and built in the driver).
    first = api.update_gold_table(spark, lake, "series", driver_max_rows=0)
    assert (first.mode, first.rows, first.on_driver) == ("full", 5, False)
    first_studies = api.update_gold_table(spark, lake, "studies")
    assert (first_studies.mode, first_studies.on_driver) == ("full", True)
    assert_gold_matches(spark, landing, lake)
    series = table(spark, lake, "series", "series_instance_uid")
    regular, gap = series[uid("regular")], series[uid("gap")]
    assert regular["is_regular_volume"] and regular["drop_ids"] == ["drop-a", "drop-b"]
    assert regular["slice_spacing_mean"] == pytest.approx(2.5) and regular["instance_count"] == 5
    assert gap["missing_positions"] == 1 and not gap["is_regular_volume"]
    assert series[uid("two-orientations")]["orientation_count"] == 2
    assert table(spark, lake, "studies", "study_instance_uid")[uid("s1")]["series_count"] == 2
    assert api.update_gold_table(spark, lake, "series").commit is None  # nothing new

    # A deleted file: the regular series now has a gap; only its UIDs are recomputed.
    (b / "regular_003.dcm").unlink()
    ingest(spark, landing, lake, ["drop-b"])
    update = api.update_gold_table(spark, lake, "series")
    assert (update.mode, update.touched, update.on_driver) == ("incremental", 1, True)
    assert api.update_gold_table(spark, lake, "studies", driver_max_rows=0).touched == 1
    assert_gold_matches(spark, landing, lake)
    regular = table(spark, lake, "series", "series_instance_uid")[uid("regular")]
    assert regular["missing_positions"] == 1 and not regular["is_regular_volume"]

    # The whole drop removed: its series and study go, the split ones shrink.
    shutil.rmtree(b)
    b.mkdir()
    (b / "_SUCCESS").write_text("")
    ingest(spark, landing, lake, ["drop-b"])
    update = api.update_gold_table(spark, lake, "series", driver_max_rows=0)
    assert update.commit is not None and update.commit.rows_deleted == 1
    studies = api.update_gold_table(spark, lake, "studies")
    assert studies.commit is not None and studies.commit.rows_deleted == 1
    assert_gold_matches(spark, landing, lake)
    assert uid("two-orientations") not in table(spark, lake, "series", "series_instance_uid")

    # A change the Change Data Feed did not record: the next update recomputes everything.
    metadata = f"delta.`{tmp_path / 'lake' / 'metadata'}`"
    spark.sql(f"ALTER TABLE {metadata} SET TBLPROPERTIES (delta.enableChangeDataFeed = false)")
    spark.sql(f"DELETE FROM {metadata} WHERE sop_instance_uid = '{uid('gap/0')}'")
    spark.sql(f"ALTER TABLE {metadata} SET TBLPROPERTIES (delta.enableChangeDataFeed = true)")
    (a / "gap_000.dcm").unlink()  # what the expected side must no longer see
    # Spark reads the Change Data Feed and finds the window incomplete: all UIDs again.
    update = api.update_gold_table(spark, lake, "series", driver_max_rows=0)
    assert update.mode == "full"
    # The driver reads the commit itself: the studies of every row of the files the
    # DELETE rewrote (the changed one, and the others in those files).
    studies = api.update_gold_table(spark, lake, "studies")
    assert (studies.mode, studies.on_driver) == ("incremental", True) and studies.touched >= 1
    assert_gold_matches(spark, landing, lake)
    assert table(spark, lake, "series", "series_instance_uid")[uid("gap")]["instance_count"] == 3
