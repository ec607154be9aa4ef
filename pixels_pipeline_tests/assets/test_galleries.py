"""A drop's gallery is rebuilt when what it shows changes, and only then: a run that
leaves the shown thumbnails as they were writes no file, yet still gives the UI preview;
a new file among the first shown rebuilds it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from pixels_pipeline import api
from pixels_pipeline.assets import galleries
from pixels_pipeline.assets.galleries import pick_columns, update_galleries
from pixels_pipeline.assets.object_catalog import object_catalog
from pixels_pipeline.assets.thumbnails import thumbnails
from pixels_pipeline.samples import copy_drop, find_test_file

from ..conftest import materialize_drop

DROP = "gallery-drop"
NAMES = ("CT_small.dcm", "MR_small.dcm", "SC_rgb.dcm")


def _files(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in sorted(folder.iterdir())}


def _rebuilt(result: object) -> int:
    mats = result.asset_materializations_for_node("thumbnails")  # type: ignore[attr-defined]
    return int(mats[-1].metadata["galleries_rebuilt"].value)


def test_gallery_is_rebuilt_only_when_its_thumbnails_change(
    spark: SparkSession, tmp_path: Path
) -> None:
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    sources = [p for p in (find_test_file(n) for n in NAMES) if p is not None]
    drop = copy_drop(landing, DROP, sources)
    folder = lake / "_gallery" / DROP
    first = materialize_drop([object_catalog, thumbnails], DROP, landing, lake)
    assert first.success and _rebuilt(first) == 1
    assert json.loads((folder / "gallery.json").read_text())["format"] == 1
    written = _files(folder)
    assert set(written) == {"gallery.json", "index.html", "contact_sheet.png"}
    assert (folder / "index.html").read_text().count("<figure id=") == len(NAMES)

    again = materialize_drop([object_catalog, thumbnails], DROP, landing, lake)
    assert again.success and _rebuilt(again) == 0
    assert _files(folder) == written  # nothing rewritten
    mats = again.asset_materializations_for_node("thumbnails")
    assert mats[-1].metadata["preview"].value.startswith("![contact sheet](data:image/png")

    shutil.copy2(drop / "CT_small.dcm", drop / "0_first.dcm")  # shown first, by path
    changed = materialize_drop([object_catalog, thumbnails], DROP, landing, lake)
    assert changed.success and _rebuilt(changed) == 1
    assert (folder / "index.html").read_text().count("<figure id=") == len(NAMES) + 1

    (folder / "index.html").unlink()  # a gallery missing a file is rebuilt
    assert _rebuilt(materialize_drop([object_catalog, thumbnails], DROP, landing, lake)) == 1
    assert (folder / "index.html").exists()


def test_files_after_the_shown_ones_leave_the_gallery_as_it_is(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    sources = [p for p in (find_test_file(n) for n in NAMES) if p is not None]
    drop = copy_drop(landing, DROP, sources)
    assert materialize_drop([object_catalog, thumbnails], DROP, landing, lake).success
    monkeypatch.setattr(galleries, "GALLERY_LIMIT", 2)
    lake_uri = api.normalize_uri(str(lake))

    def update() -> galleries.Galleries:
        written = api.read_table(spark, lake_uri, "thumbnails", drop_ids=[DROP])
        small = api.small_table_rows(lake_uri, "thumbnails", [DROP], pick_columns())
        return update_galleries(lake_uri, [DROP], written, small, api.StorageOptions())

    assert update().rebuilt == [DROP]  # two shown now, three before
    shutil.copy2(drop / "CT_small.dcm", drop / "zz_last.dcm")  # sorts after the shown two
    assert materialize_drop([object_catalog, thumbnails], DROP, landing, lake).success
    kept = update()
    assert kept.rebuilt == [] and len(kept.preview) == 2
    # read by Spark (a drop too big for the driver) the same rows are picked
    written = api.read_table(spark, lake_uri, "thumbnails", drop_ids=[DROP])
    by_spark = update_galleries(lake_uri, [DROP], written, None, api.StorageOptions())
    assert by_spark.rebuilt == [] and by_spark.preview == kept.preview
