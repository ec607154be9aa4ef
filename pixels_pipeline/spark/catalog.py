"""Distributed listing of drops into ``object_catalog`` rows.

The driver lists only each drop's top level; sub-folders are walked recursively inside
Spark tasks, and files are sniffed (first 132 bytes) in other tasks, so a drop of
millions of files is never looped over on the driver.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession

from pixels_pipeline.spark.schemas import OBJECT_CATALOG, spark_schema
from pixels_pipeline.spark.session import target_partitions
from pixels_pipeline.storage.archives import ArchiveLimits
from pixels_pipeline.storage.landing import Drop
from pixels_pipeline.storage.listing import FileEntry, describe_file, list_top_level, walk
from pixels_pipeline.storage.uri import StorageOptions, filesystem_for, scheme_of

_UNITS = "drop_id string, drop_uri string, drop_path string, path string, is_dir boolean"
_ENTRIES = pa.schema(
    [
        ("drop_id", pa.string()),
        ("drop_uri", pa.string()),
        ("drop_path", pa.string()),
        ("path", pa.string()),
        ("size", pa.int64()),
        ("mtime", pa.timestamp("us", tz="UTC")),
    ]
)
FILES_PER_TASK = 64


@dataclass(frozen=True)
class _Walker:
    options: StorageOptions

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            for unit in batch.to_pylist():
                fs, _ = filesystem_for(unit["drop_uri"], self.options)
                if unit["is_dir"]:
                    infos = list(walk(fs, unit["path"]))
                else:
                    infos = [fs.get_file_info(unit["path"])]
                rows = [
                    {
                        "drop_id": unit["drop_id"],
                        "drop_uri": unit["drop_uri"],
                        "drop_path": unit["drop_path"],
                        "path": i.path,
                        "size": i.size,
                        "mtime": i.mtime,
                    }
                    for i in infos
                ]
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
                fs, _ = filesystem_for(e["drop_uri"], self.options)
                entry = FileEntry(
                    drop_id=e["drop_id"],
                    drop_uri=e["drop_uri"],
                    relative_path=e["path"][len(e["drop_path"]) :].lstrip("/"),
                    size=e["size"],
                    mtime=e["mtime"],
                )
                is_local = scheme_of(e["drop_uri"]) == "file"
                rows.extend(
                    describe_file(
                        fs,
                        e["path"],
                        entry,
                        is_local=is_local,
                        is_anon=self.options.anonymous and not is_local,
                        ingested_at=self.ingested_at,
                        hash_content=self.hash_content,
                        limits=self.limits,
                    )
                )
            yield pa.RecordBatch.from_pylist(rows, schema=OBJECT_CATALOG)


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
    units: list[tuple[str, str, str, str, bool]] = []
    for drop in drops:
        fs, root = filesystem_for(drop.uri, opts)
        files, folders = list_top_level(fs, root)
        units += [(drop.drop_id, drop.uri, root, i.path, False) for i in files]
        units += [(drop.drop_id, drop.uri, root, i.path, True) for i in folders]
    if not units:
        return spark.createDataFrame([], spark_schema(OBJECT_CATALOG))
    entries = (
        spark.createDataFrame(units, _UNITS)
        .repartition(target_partitions(spark, len(units), per_task=16))
        .mapInArrow(_Walker(opts), spark_schema(_ENTRIES))
    )
    n_files = max(len(units), spark.sparkContext.defaultParallelism * 4)
    return entries.repartition(
        target_partitions(spark, n_files, per_task=FILES_PER_TASK)
    ).mapInArrow(
        _Describer(
            opts, datetime.now(timezone.utc), hash_content, archive_limits or ArchiveLimits()
        ),
        spark_schema(OBJECT_CATALOG),
    )
