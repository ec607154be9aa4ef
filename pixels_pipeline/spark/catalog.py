"""Distributed listing of drops into ``object_catalog`` rows.

The driver lists only each drop's top level; sub-folders are walked recursively inside
Spark tasks, and files are sniffed (first 132 bytes) in other tasks, so a drop of
millions of files is never looped over on the driver.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession

from pixels_pipeline.spark.schemas import OBJECT_CATALOG, spark_schema
from pixels_pipeline.spark.session import default_parallelism, target_partitions
from pixels_pipeline.storage.archives import ArchiveLimits
from pixels_pipeline.storage.landing import Drop, check_drop_id
from pixels_pipeline.storage.listing import (
    FileEntry,
    Listed,
    describe_file,
    list_entries,
    unread_row,
)
from pixels_pipeline.storage.local import check_folder, relative_text
from pixels_pipeline.storage.uri import StorageOptions, filesystem_for, scheme_of

_UNITS = "drop_id string, drop_uri string, drop_path string, path string"
_ENTRIES = pa.schema(
    [
        ("drop_id", pa.string()),
        ("drop_uri", pa.string()),
        ("drop_path", pa.string()),
        ("path", pa.string()),  # the stored path (file system path or URI)
        ("relative_path", pa.string()),
        ("size", pa.int64()),
        ("mtime", pa.timestamp("us", tz="UTC")),
        ("kind", pa.string()),  # file, symlink, special_file, unlisted (see Listed)
        ("error", pa.string()),  # why it is not read
    ]
)
FILES_PER_TASK = 64
UNLISTED_FOLDER = "cannot list folder"  # error_message of a folder's row: keep its files' rows


@dataclass(frozen=True)
class _Walker:
    """Lists sub-folders recursively in tasks; a folder that fails is an error entry."""

    options: StorageOptions

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            for unit in batch.to_pylist():
                base = {k: unit[k] for k in ("drop_id", "drop_uri", "drop_path")}
                try:
                    fs, _ = filesystem_for(unit["drop_uri"], self.options)
                    is_local = scheme_of(unit["drop_uri"]) == "file"
                    listed = list_entries(
                        fs, unit["drop_path"], unit["path"], is_local=is_local, recursive=True
                    )
                    rows = [_entry(base, e) for e in listed]
                except Exception as exc:
                    error = f"{UNLISTED_FOLDER}: {type(exc).__name__}"  # no path: PHI
                    relative = (
                        relative_text(unit["drop_path"], unit["path"])
                        if scheme_of(unit["drop_uri"]) == "file"
                        else unit["path"][len(unit["drop_path"]) :].lstrip("/")
                    )
                    folder = Listed(unit["path"], relative, 0, None, "unlisted", error)
                    rows = [_entry(base, folder)]
                if rows:
                    yield pa.RecordBatch.from_pylist(rows, schema=_ENTRIES)


@dataclass(frozen=True)
class _Describer:
    options: StorageOptions
    ingested_at: datetime
    hash_content: bool
    limits: ArchiveLimits

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            rows = []
            for e in batch.to_pylist():
                is_local = scheme_of(e["drop_uri"]) == "file"
                entry = FileEntry(
                    drop_id=e["drop_id"],
                    drop_uri=e["drop_uri"],
                    relative_path=e["relative_path"],
                    size=e["size"],
                    mtime=e["mtime"],
                    uri=e["path"] if is_local else None,
                )
                is_anon = self.options.anonymous and not is_local
                if e["kind"] != "file":
                    message = e["error"] or "not read"
                    row = unread_row(entry, e["kind"], message, is_anon, self.ingested_at)
                    rows.append(row)
                    continue
                fs, _ = filesystem_for(e["drop_uri"], self.options)
                rows.extend(
                    describe_file(
                        fs,
                        e["path"],
                        entry,
                        is_local=is_local,
                        is_anon=is_anon,
                        ingested_at=self.ingested_at,
                        hash_content=self.hash_content,
                        limits=self.limits,
                    )
                )
            yield pa.RecordBatch.from_pylist(rows, schema=OBJECT_CATALOG)


def _entry(base: Mapping[str, object], e: Listed) -> dict[str, object]:
    return {
        **base,
        "path": e.path,
        "relative_path": e.relative_path,
        "size": e.size,
        "mtime": e.mtime,
        "kind": e.kind,
        "error": e.error,
    }


def catalog_drops(
    spark: SparkSession,
    drops: Sequence[Drop],
    *,
    options: StorageOptions | None = None,
    hash_content: bool = False,
    archive_limits: ArchiveLimits | None = None,
) -> DataFrame:
    """One ``object_catalog`` row per file of each drop, recursively (lazy DataFrame).

    ``hash_content`` adds a sha256 of each file to its fingerprint (reads every byte);
    zip archives are expanded into member rows within ``archive_limits``."""
    opts = options or StorageOptions()
    files: list[dict[str, object]] = []
    folders: list[tuple[str, str, str, str]] = []
    for drop in drops:
        check_drop_id(drop.drop_id)
        fs, root = filesystem_for(drop.uri, opts)
        is_local = scheme_of(drop.uri) == "file"
        if is_local:
            check_folder(root)
        base = {"drop_id": drop.drop_id, "drop_uri": drop.uri, "drop_path": root}
        for e in list_entries(fs, root, root, is_local=is_local, recursive=False):
            if e.kind == "unlisted" and e.error is None:
                folders.append((drop.drop_id, drop.uri, root, e.path))
            else:
                files.append(_entry(base, e))
    entries_schema = spark_schema(_ENTRIES)
    entries = spark.createDataFrame(
        pa.Table.from_pylist(files, schema=_ENTRIES).to_pandas(), entries_schema
    )
    if folders:
        walked = (
            spark.createDataFrame(folders, _UNITS)
            .repartition(target_partitions(spark, len(folders), per_task=16))
            .mapInArrow(_Walker(opts), entries_schema)
        )
        entries = entries.unionByName(walked)
    n_files = max(len(files) + len(folders), default_parallelism(spark) * 4)
    describer = _Describer(
        opts, datetime.now(timezone.utc), hash_content, archive_limits or ArchiveLimits()
    )
    return entries.repartition(
        target_partitions(spark, n_files, per_task=FILES_PER_TASK)
    ).mapInArrow(describer, spark_schema(OBJECT_CATALOG))
