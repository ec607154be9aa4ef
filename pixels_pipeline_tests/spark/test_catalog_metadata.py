"""Catalog and metadata stages on Spark over a drop of every pydicom test file."""

import json
import shutil
import warnings
from datetime import datetime, timezone
from pathlib import Path

import pydicom
import pytest
from pyspark.sql import SparkSession

from pixels_pipeline import api
from pixels_pipeline.dicom.sniff import looks_like_dicom
from pixels_pipeline.samples import copy_drop, find_test_file
from pixels_pipeline.spark.catalog import Describer, Lister, entry_batches
from pixels_pipeline.storage.archives import ArchiveLimits
from pixels_pipeline.storage.listing import Listed, row_id_of
from pixels_pipeline.storage.uri import StorageOptions

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


def test_metadata_written_in_the_writer_tasks_equals_the_dataframe(
    spark: SparkSession, landing: Path, tmp_path: Path
) -> None:
    """``metadata_rows`` (extracted inside the Delta writer's tasks) writes exactly the
    rows of ``extract_metadata``, each carrying its catalog row's fingerprint."""
    catalog = api.catalog(spark, str(landing / TEST_FILES_DROP))
    fingerprints = {r["row_id"]: r["fingerprint"] for r in catalog.collect()}
    frame = {r["row_id"]: r.asDict() for r in api.extract_metadata(catalog).collect()}
    commit = api.write_table(
        api.metadata_rows(catalog), str(tmp_path), "metadata", drop_ids=[TEST_FILES_DROP]
    )
    assert commit.rows == len(frame) == len(all_test_files())
    written = api.read_table(spark, str(tmp_path), "metadata").collect()
    assert {r["row_id"]: r["fingerprint"] for r in written} == fingerprints
    for r in written:
        assert r.asDict() == frame[r["row_id"]]


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


def test_files_and_folders_gone_before_the_tasks_run_are_read_error_rows(
    spark: SparkSession, tmp_path: Path
) -> None:
    """``catalog`` lists the drop in Spark tasks when called; other tasks walk folders
    and read the files later. Whatever vanished in between (a sync deleting it, a
    network share dropping) becomes a typed row, and the rest of the drop is still
    cataloged."""
    ct, mr = find_test_file("CT_small.dcm"), find_test_file("MR_small.dcm")
    assert ct is not None and mr is not None
    drop = copy_drop(tmp_path, "vanishing", [ct, mr])
    (drop / "series").mkdir()
    shutil.copy2(ct, drop / "series" / "ct2.dcm")
    catalog = api.catalog(spark, str(drop))  # listed now, files read lazily
    (drop / "MR_small.dcm").unlink()
    rows = {r["relative_path"]: r for r in catalog.collect()}
    assert set(rows) == {"CT_small.dcm", "MR_small.dcm", "series/ct2.dcm"}
    assert rows["CT_small.dcm"]["error_type"] is None and rows["CT_small.dcm"]["is_dicom"]
    assert rows["MR_small.dcm"]["error_type"] == "read_error", rows["MR_small.dcm"]
    assert rows["MR_small.dcm"]["error_message"].startswith(str(drop / "MR_small.dcm"))

    # A folder gone between the listing of its parent and its own walk (another task).
    root = str(drop)
    base = {"drop_id": "vanishing", "drop_uri": root, "drop_path": root}
    folder = entry_batches(base, [Listed(str(drop / "series"), "series", 0, None, "unlisted")])
    shutil.rmtree(drop / "series")
    opts = StorageOptions()
    walked = Lister(opts, recursive=True)(folder)
    now = datetime.now(timezone.utc)
    described = Describer(opts, now, hash_content=False, limits=ArchiveLimits())(walked)
    (gone,) = [r for b in described for r in b.to_pylist()]
    assert gone["relative_path"] == "series" and gone["error_type"] == "read_error", gone
    assert gone["error_message"].startswith(str(drop / "series"))


def test_file_gone_before_metadata_is_a_read_error_row(spark: SparkSession, tmp_path: Path) -> None:
    ct, mr = find_test_file("CT_small.dcm"), find_test_file("MR_small.dcm")
    assert ct is not None and mr is not None
    drop = copy_drop(tmp_path, "later", [ct, mr])
    api.write_table(
        api.catalog(spark, str(drop)), str(tmp_path / "lake"), "object_catalog", drop_ids=["later"]
    )
    (drop / "MR_small.dcm").unlink()
    catalog = api.read_table(spark, str(tmp_path / "lake"), "object_catalog")
    rows = {r["path"].rsplit("/", 1)[-1]: r for r in api.extract_metadata(catalog).collect()}
    assert rows["CT_small.dcm"]["error_type"] is None
    assert rows["MR_small.dcm"]["error_type"] == "read_error"
    assert "MR_small.dcm" in rows["MR_small.dcm"]["error_message"]
