"""A drop holding zip archives: one catalog row per member, flowing downstream."""

import zipfile
from pathlib import Path

import deltalake
import pytest

from pixels_pipeline.assets.metadata import metadata
from pixels_pipeline.assets.object_catalog import object_catalog
from pixels_pipeline.assets.thumbnails import thumbnails
from pixels_pipeline.samples import find_test_file

from ..conftest import materialize_drop

pytestmark = [pytest.mark.spark, pytest.mark.dagster]


def test_zip_members_flow_through_catalog_metadata_and_thumbnails(
    spark: object, tmp_path: Path
) -> None:
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    drop = landing / "zipped"
    drop.mkdir(parents=True)
    ct, mr = find_test_file("CT_small.dcm"), find_test_file("MR_small.dcm")
    assert ct is not None and mr is not None
    with zipfile.ZipFile(drop / "study.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(ct, "series1/ct.dcm")
        zf.write(mr, "series2/mr.dcm")
        zf.writestr("notes.txt", "hello")
    with zipfile.ZipFile(drop / "evil.zip", "w") as zf:
        zf.writestr("../../escape.dcm", ct.read_bytes())
        zf.writestr("bomb.dcm", b"\0" * (8 * 1024 * 1024), zipfile.ZIP_DEFLATED)
    (drop / "_SUCCESS").write_text("")
    result = materialize_drop([object_catalog, metadata, thumbnails], "zipped", landing, lake)
    assert result.success

    def rows(table: str) -> dict[str, dict[str, object]]:
        data = deltalake.DeltaTable(str(lake / table)).to_pyarrow_table().to_pylist()
        return {str(r["path"]).split("::")[0]: r for r in data}

    catalog = rows("object_catalog")
    assert set(catalog) == {
        "zip://series1/ct.dcm",
        "zip://series2/mr.dcm",
        "zip://notes.txt",
        "zip://../../escape.dcm",
        "zip://bomb.dcm",
    }
    assert catalog["zip://series1/ct.dcm"]["is_dicom"] is True
    assert catalog["zip://series1/ct.dcm"]["relative_path"] == "study.zip::series1/ct.dcm"
    assert catalog["zip://notes.txt"]["is_dicom"] is False
    assert catalog["zip://../../escape.dcm"]["error_type"] == "archive_error"
    assert catalog["zip://bomb.dcm"]["error_type"] == "archive_error"
    meta = rows("metadata")
    assert meta["zip://series1/ct.dcm"]["modality"] == "CT"
    assert meta["zip://series2/mr.dcm"]["modality"] == "MR"
    assert meta["zip://bomb.dcm"]["error_type"] == "archive_error"
    thumbs = rows("thumbnails")
    assert set(thumbs) == {"zip://series1/ct.dcm", "zip://series2/mr.dcm"}
    assert all(t["error_type"] is None for t in thumbs.values())
    assert not (landing.parent / "escape.dcm").exists()
