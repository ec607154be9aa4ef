"""Catalog and metadata stages on Spark over a drop of every pydicom test file."""

import json
import warnings
from pathlib import Path

import pydicom
import pytest
from pyspark.sql import SparkSession

from pixels_pipeline import api
from pixels_pipeline.dicom.sniff import looks_like_dicom
from pixels_pipeline.storage.listing import row_id_of

from ..conftest import TEST_FILES_DROP, all_test_files

pytestmark = pytest.mark.spark


def test_catalog_has_one_row_per_file(spark: SparkSession, landing: Path) -> None:
    drop = landing / TEST_FILES_DROP
    rows = api.catalog(spark, str(drop)).collect()
    expected = {
        str(p.relative_to(drop)) for p in drop.rglob("*") if p.is_file() and p.name != "_SUCCESS"
    }
    assert len(expected) == len(all_test_files())
    assert sorted(r["relative_path"] for r in rows) == sorted(expected)
    by_rel = {r["relative_path"]: r for r in rows}
    for rel, row in by_rel.items():
        path = drop / rel
        assert row["length"] == path.stat().st_size
        assert row["is_dicom"] == looks_like_dicom(path.read_bytes()[:132])
        assert row["row_id"] == row_id_of(row["path"])
        assert row["drop_id"] == TEST_FILES_DROP and row["is_anon"] is False
        assert row["local_path"] == str(path)
        assert row["path_tags"] == rel.split("/")
    nested = by_rel["dicomdirtests/98892001/CT2N/6293"]
    assert nested["extension"] == "" and nested["is_dicom"]
    assert by_rel["README.txt"]["is_dicom"] is False and by_rel["README.txt"]["extension"] == "txt"


def test_metadata_has_one_row_per_catalog_row(spark: SparkSession, landing: Path) -> None:
    catalog = api.catalog(spark, str(landing / TEST_FILES_DROP))
    rows = api.extract_metadata(catalog).collect()
    assert len(rows) == len(all_test_files())
    by_name = {r["path"].rsplit("/", 1)[-1]: r for r in rows}
    assert (
        by_name["CT_small.dcm"]["modality"] == "CT"
        and by_name["CT_small.dcm"]["error_type"] is None
    )
    assert by_name["README.txt"]["error_type"] == "not_dicom"
    assert by_name["MR_truncated.dcm"]["error_type"] == "truncated"
    assert by_name["badVR.dcm"]["error_type"] == "invalid_header"
    warnings.simplefilter("ignore")
    ok = [r for r in rows if r["error_type"] is None]
    assert len(ok) >= 160
    for r in ok:
        ds = pydicom.dcmread(r["path"], force=True, stop_before_pixels=True)
        meta = getattr(ds, "file_meta", {})
        expected = ds.get("SOPClassUID") or meta.get("MediaStorageSOPClassUID") or None
        assert r["sop_class_uid"] == expected
        assert json.loads(r["meta"])
