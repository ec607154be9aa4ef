"""An incremental catalog update sniffs only new or changed entries: the keys the driver
computes from a listing are the ones sniffing gives, and the updated table is a fresh
catalog's except for what was not re-read."""

from __future__ import annotations

import io
import os
import shutil
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from pyspark.sql import SparkSession

from pixels_pipeline import api
from pixels_pipeline.samples import find_test_file
from pixels_pipeline.spark import catalog_delta
from pixels_pipeline.spark.catalog import Describer, entry_batches
from pixels_pipeline.spark.catalog_delta import unchanged_entries
from pixels_pipeline.storage.archives import ArchiveLimits
from pixels_pipeline.storage.landing import Drop
from pixels_pipeline.storage.listing import list_entries
from pixels_pipeline.storage.uri import StorageOptions, filesystem_for

DROP_ID = "skip"


def _test_file(name: str) -> Path:
    path = find_test_file(name)
    assert path is not None
    return path


def _zip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), data)
    return out.getvalue()


def _zip_of_size(size: int) -> bytes:
    """A zip archive of exactly ``size`` bytes (one stored member)."""
    overhead = len(_zip({"x.bin": b""}))
    data = _zip({"x.bin": b"\0" * (size - overhead)})
    assert len(data) == size
    return data


def _drop(folder: Path) -> Drop:
    folder.mkdir(parents=True)
    for name, source in (
        ("a.dcm", "CT_small.dcm"),
        ("b.dcm", "MR_small.dcm"),
        ("gone.dcm", "rtplan.dcm"),
        ("disguised.dcm", "CT_small.dcm"),
    ):
        shutil.copy2(_test_file(source), folder / name)
    (folder / "sub").mkdir()
    (folder / "sub" / "notes.txt").write_text("not DICOM")
    (folder / "sub" / "series.zip").write_bytes(
        _zip({"one.dcm": _test_file("MR_small.dcm").read_bytes(), "readme.txt": b"hi"})
    )
    return Drop(DROP_ID, str(folder), None)


def test_listed_keys_are_the_sniffed_keys(tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    _drop(folder)
    (folder / "link.dcm").symlink_to(folder / "a.dcm")
    fs, root = filesystem_for(str(folder), StorageOptions())
    base = {"drop_id": DROP_ID, "drop_uri": str(folder), "drop_path": root}
    listed = list_entries(fs, root, root, is_local=True, recursive=True)
    entries = pa.Table.from_batches(list(entry_batches(base, listed)))
    describer = Describer(StorageOptions(), datetime.now(timezone.utc), False, ArchiveLimits())
    rows = pa.Table.from_batches(list(describer(iter(entries.to_batches()))))
    held = rows.select(["drop_id", "row_id", "fingerprint", "error_type"])

    same, keys = unchanged_entries(entries, held)
    taken = set(entries.filter(same).column("relative_path").to_pylist())
    # Every plain file's computed key is its sniffed row's; the archive (member rows) and
    # the link (an error row) are sniffed again.
    assert taken == {"a.dcm", "b.dcm", "gone.dcm", "disguised.dcm", "sub/notes.txt"}
    plain = rows.filter(pc.is_in(rows.column("relative_path"), pa.array(sorted(taken))))
    assert sorted(keys.to_pylist(), key=str) == sorted(
        plain.select(["drop_id", "row_id", "fingerprint"]).to_pylist(), key=str
    )
    # A held row with an error (even for the same key) is not taken as unchanged.
    failed = held.set_column(3, "error_type", pa.array(["read_error"] * held.num_rows, pa.string()))
    assert not any(unchanged_entries(entries, failed)[0].to_pylist())


def _rows(table: pa.Table) -> dict[str, dict[str, Any]]:
    return {r["relative_path"]: r for r in table.to_pylist()}


def _without(row: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in names}


@pytest.mark.parametrize("local_max", [catalog_delta.LOCAL_SNIFF_MAX, 0], ids=["driver", "spark"])
def test_update_sniffs_only_new_or_changed_files(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, local_max: int
) -> None:
    # The sniffed rows come back to the driver (a few changed entries), or stay in
    # Spark (more than LOCAL_SNIFF_MAX): the same update either way.
    monkeypatch.setattr(catalog_delta, "LOCAL_SNIFF_MAX", local_max)
    lake, folder = str(tmp_path / "lake"), tmp_path / "landing" / DROP_ID
    drop = _drop(folder)
    first = api.update_catalog(spark, lake, [drop])
    assert first.commit is not None and first.processed == 7  # 5 files, 2 archive members
    before = _rows(api.read_table(spark, lake, "object_catalog").toArrow())

    # A new file, a file rewritten in place (new size), a deleted file.
    shutil.copy2(_test_file("rtplan.dcm"), folder / "sub" / "new.dcm")
    (folder / "b.dcm").write_bytes(_test_file("CT_small.dcm").read_bytes())
    (folder / "gone.dcm").unlink()
    # A file whose bytes change but not its size or modification time: its fingerprint
    # says unchanged, so it must not be read again. Read again, it would be a zip archive
    # (member rows under new keys) instead of the DICOM file cataloged.
    disguised = folder / "disguised.dcm"
    stat = disguised.stat()
    disguised.write_bytes(_zip_of_size(stat.st_size))
    os.utime(disguised, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    update = api.update_catalog(spark, lake, [drop])
    assert (update.processed, update.removed, update.kept) == (2, 2, 5)
    after = _rows(api.read_table(spark, lake, "object_catalog").toArrow())
    assert after["disguised.dcm"] == before["disguised.dcm"]  # not re-read
    assert after["disguised.dcm"]["is_dicom"]
    fresh = _rows(api.catalog(spark, str(folder), drop_id=DROP_ID).toArrow())
    assert "disguised.dcm" not in fresh  # a fresh catalog does read it: an archive now
    fresh = {k: v for k, v in fresh.items() if not k.startswith("disguised.dcm::")}
    after_rest = {k: v for k, v in after.items() if k != "disguised.dcm"}
    assert sorted(after_rest) == sorted(fresh)
    for name, row in after_rest.items():
        assert _without(row, "ingested_at") == _without(fresh[name], "ingested_at"), name
        if name in ("b.dcm", "sub/new.dcm"):
            assert name not in before or row["ingested_at"] > before[name]["ingested_at"]
        else:
            assert row["ingested_at"] == before[name]["ingested_at"], name
