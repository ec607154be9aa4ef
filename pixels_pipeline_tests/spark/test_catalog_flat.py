"""A flat drop is cataloged like the same files in sub-folders, and no listing is held
whole: entries stream in bounded batches, sniffing tasks are sized by the files found."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from pixels_pipeline import api
from pixels_pipeline.spark.catalog import FILES_PER_TASK, entry_batches, sniff_tasks
from pixels_pipeline.spark.session import default_parallelism
from pixels_pipeline.storage.listing import Listed

pytestmark = pytest.mark.spark

N_FILES = 2000
PER_FOLDER = 250
HEADER = b"\0" * 128 + b"DICM"  # what the catalog sniffs (its first 132 bytes)
MTIME_NS = 1_700_000_000_123_456_000


def _write_drop(drop: Path, *, flat: bool) -> None:
    """``N_FILES`` small files, every third one not DICOM, in one folder or in folders of
    ``PER_FOLDER``; same bytes and mtimes either way."""
    for i in range(N_FILES):
        folder = drop if flat else drop / f"s{i // PER_FOLDER:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{i:05d}.{'txt' if i % 3 == 0 else 'dcm'}"
        body = b"plain text" if i % 3 == 0 else HEADER
        path.write_bytes(body + bytes(i % 97))
        os.utime(path, ns=(MTIME_NS + i * 1000, MTIME_NS + i * 1000))


def test_a_flat_drop_is_cataloged_like_the_same_files_in_folders(
    spark: SparkSession, tmp_path: Path
) -> None:
    _write_drop(tmp_path / "flat" / "drop", flat=True)
    _write_drop(tmp_path / "nested" / "drop", flat=False)
    flat = api.catalog(spark, str(tmp_path / "flat" / "drop"))
    assert flat.rdd.getNumPartitions() == sniff_tasks(spark, N_FILES)  # sized by files found
    by_name = {r["relative_path"]: r.asDict() for r in flat.collect()}
    nested = api.catalog(spark, str(tmp_path / "nested" / "drop")).collect()
    assert len(by_name) == len(nested) == N_FILES
    where_only = {"row_id", "path", "relative_path", "local_path", "path_tags", "ingested_at"}
    for row in nested:
        folder, name = row["relative_path"].split("/")
        twin = by_name[name]
        assert row["path_tags"] == [folder, name] and twin["path_tags"] == [name]
        same = {k: v for k, v in row.asDict().items() if k not in where_only}
        assert same == {k: v for k, v in twin.items() if k not in where_only}
        assert row["is_dicom"] == name.endswith(".dcm")
        assert row["error_type"] is None


def test_listing_batches_are_read_lazily_and_bounded() -> None:
    read = 0

    def listed() -> Iterator[Listed]:
        nonlocal read
        for i in range(2500):
            read += 1
            yield Listed(f"/d/{i}", str(i), i, None)

    base = {"drop_id": "d", "drop_uri": "/d", "drop_path": "/d"}
    stream = entry_batches(base, listed(), size=1000)
    assert read == 0
    first = next(stream)
    assert first.num_rows == 1000 and read in (1000, 1001)
    assert first.column("relative_path").to_pylist()[:2] == ["0", "1"]
    assert [b.num_rows for b in stream] == [1000, 500] and read == 2500


def test_sniffing_tasks_are_sized_by_work(spark: SparkSession) -> None:
    cores = default_parallelism(spark)
    for n in (0, 5, 2000, 50_000, 1_000_000):
        tasks = sniff_tasks(spark, n)
        assert tasks % cores == 0 and tasks >= cores  # whole waves
        assert tasks * FILES_PER_TASK >= n  # no task over its share...
        assert tasks == cores or (tasks - cores) * FILES_PER_TASK < n  # ...nor a wave too many
    # reading every byte (hash_content): 200 GB in 2,000 files is more than one wave
    assert sniff_tasks(spark, 2000, 200 << 30) > sniff_tasks(spark, 2000)
