"""The one Delta writer: Spark tasks write Parquet with pyarrow, the driver commits once.

delta-spark jars cannot be installed here (no Maven), so this uses the delta-rs commit
protocol: each task writes its rows as Parquet data files under the table folder and
returns Delta add actions; the driver commits all of them in ONE transaction that replaces
the written partitions. Readers never see a partial write: until the commit, the new files
are not in the log (a killed run leaves only orphan files, removed by vacuum).
delta-rs is only ever called on the driver (it panics in forked workers).
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable, Transaction
from deltalake import Schema as DeltaSchema
from deltalake.exceptions import CommitFailedError
from deltalake.transaction import AddAction, RemoveAction, create_table_with_add_actions
from pyspark.sql import DataFrame

from pixels_pipeline.spark.mapped import ArrowTransform, MappedRows, Rows
from pixels_pipeline.spark.schemas import PARTITION_COLUMN, data_schema, parquet_compression
from pixels_pipeline.storage.uri import StorageOptions, filesystem_for, join_uri

_ADD_SCHEMA = pa.schema(
    [
        ("path", pa.string()),
        ("size", pa.int64()),
        ("partition_value", pa.string()),
        ("modification_time", pa.int64()),
        ("num_records", pa.int64()),
        ("stats", pa.string()),
    ]
)
_ADD_DDL = (
    "path string, size long, "
    "partition_value string, modification_time long, num_records long, stats string"
)
_COMMIT_ATTEMPTS = 5
PAUSE_MARKER = "pixels_pipeline: data files written, pausing before commit"


@dataclass(frozen=True)
class CommitResult:
    """What one write did to a table."""

    version: int  # table version after the write
    files: int  # data files added
    rows: int  # rows added
    skipped: bool  # the app transaction was committed before (a retried step): nothing done


@dataclass(frozen=True)
class _FileWriter:
    """Runs inside Spark tasks: Arrow batches in, Parquet files out, add actions back."""

    table_uri: str
    schema: pa.Schema
    options: StorageOptions
    max_rows_per_file: int

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        fs, root = filesystem_for(self.table_uri, self.options)
        file_schema = data_schema(self.schema)
        open_files: dict[str, tuple[pq.ParquetWriter, str, _Stats]] = {}
        sinks: dict[str, Any] = {}  # the output streams: ParquetWriter leaves them open
        adds: list[dict[str, Any]] = []

        def close(value: str) -> None:
            writer, rel, stats = open_files.pop(value)
            writer.close()
            sinks.pop(value).close()  # on S3, only this completes the upload
            info = fs.get_file_info(f"{root}/{rel}")
            adds.append(
                {
                    "path": rel,
                    "size": info.size,
                    "partition_value": value,
                    "modification_time": int(time.time() * 1000),
                    "num_records": stats.rows,
                    "stats": stats.to_json(),
                }
            )

        for batch in batches:
            table = pa.Table.from_batches([batch]).select(self.schema.names).cast(self.schema)
            for value in pc.unique(table[PARTITION_COLUMN]).to_pylist():
                part = table.filter(pc.equal(table[PARTITION_COLUMN], value)).drop_columns(
                    [PARTITION_COLUMN]
                )
                if value not in open_files:
                    rel = f"{PARTITION_COLUMN}={value}/part-{uuid.uuid4().hex}.zstd.parquet"
                    fs.create_dir(f"{root}/{PARTITION_COLUMN}={value}", recursive=True)
                    sink = sinks[value] = fs.open_output_stream(f"{root}/{rel}")
                    writer = pq.ParquetWriter(
                        sink, file_schema, compression=parquet_compression(file_schema)
                    )
                    open_files[value] = (writer, rel, _Stats(file_schema))
                writer, _, stats = open_files[value]
                writer.write_table(part)
                stats.update(part)
                if stats.rows >= self.max_rows_per_file:
                    close(value)
        for value in list(open_files):
            close(value)
        if adds:
            yield pa.RecordBatch.from_pylist(adds, schema=_ADD_SCHEMA)


class _Stats:
    """Delta file statistics: numRecords, nullCount, and min/max of numeric and date columns."""

    def __init__(self, schema: pa.Schema) -> None:
        self.rows = 0
        self.nulls: dict[str, int] = {}
        self.mins: dict[str, Any] = {}
        self.maxs: dict[str, Any] = {}
        self.minmax_columns = [
            f.name
            for f in schema
            if pa.types.is_integer(f.type)
            or pa.types.is_floating(f.type)
            or pa.types.is_date(f.type)
        ]
        self.null_columns = [f.name for f in schema if not pa.types.is_nested(f.type)]

    def update(self, table: pa.Table) -> None:
        self.rows += table.num_rows
        for name in self.null_columns:
            self.nulls[name] = self.nulls.get(name, 0) + table[name].null_count
        for name in self.minmax_columns:
            mm = pc.min_max(table[name]).as_py()
            if mm["min"] is None:
                continue
            self.mins[name] = (
                mm["min"] if name not in self.mins else min(self.mins[name], mm["min"])
            )
            self.maxs[name] = (
                mm["max"] if name not in self.maxs else max(self.maxs[name], mm["max"])
            )

    def to_json(self) -> str:
        def enc(value: Any) -> Any:
            return value.isoformat() if isinstance(value, date) else value

        return json.dumps(
            {
                "numRecords": self.rows,
                "minValues": {k: enc(v) for k, v in self.mins.items()},
                "maxValues": {k: enc(v) for k, v in self.maxs.items()},
                "nullCount": self.nulls,
            }
        )


@dataclass(frozen=True)
class _MapThenWrite:
    """Runs inside Spark tasks: a UDF's output batches go straight to the file writer."""

    transform: ArrowTransform
    writer: _FileWriter

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        return self.writer(self.transform(batches))


def _write_files(rows: Rows, writer: _FileWriter) -> list[Any]:
    """Write ``rows`` as data files in Spark tasks; their add actions (Spark rows)."""
    if isinstance(rows, MappedRows):
        job = rows.source.mapInArrow(_MapThenWrite(rows.transform, writer), _ADD_DDL)
    else:
        job = rows.select(*writer.schema.names).mapInArrow(writer, _ADD_DDL)
    return job.collect()


def write_partitions(
    rows: Rows | Sequence[Rows],
    table_uri: str,
    schema: pa.Schema,
    *,
    drop_ids: Sequence[str] | None = None,
    app_id: str | None = None,
    options: StorageOptions | None = None,
    max_rows_per_file: int = 200_000,
) -> CommitResult:
    """Replace the ``drop_ids`` partitions of a Delta table with ``rows`` in one commit.

    ``rows``: a DataFrame, :class:`~pixels_pipeline.spark.mapped.MappedRows` (computed
    and written in the same Python task), or several of them (one Spark job each, one
    commit for all). Partitions in ``drop_ids`` that get no rows become empty; with
    ``drop_ids=None`` exactly the partitions present in ``rows`` are replaced.
    ``app_id`` makes the commit idempotent: if a transaction with that id was already
    committed (a retried step), nothing is computed or written again.
    """
    opts = options or StorageOptions()
    storage = opts.delta_options()
    if app_id is not None and DeltaTable.is_deltatable(table_uri, storage_options=storage):
        table = DeltaTable(table_uri, storage_options=storage)
        if table.transaction_version(app_id) is not None:
            return CommitResult(table.version(), 0, 0, skipped=True)
    writer = _FileWriter(table_uri, schema, opts, max_rows_per_file)
    parts = [rows] if isinstance(rows, DataFrame | MappedRows) else list(rows)
    files = [add for part in parts for add in _write_files(part, writer)]
    adds = [
        AddAction(
            path=r["path"],
            size=r["size"],
            partition_values={PARTITION_COLUMN: r["partition_value"]},
            modification_time=r["modification_time"],
            data_change=True,
            stats=r["stats"],
        )
        for r in files
    ]
    written = sorted({r["partition_value"] for r in files})
    if drop_ids is None:
        drop_ids = written
    unexpected = set(written) - set(drop_ids)
    if unexpected:
        raise ValueError(f"rows for partitions outside {sorted(drop_ids)}: {sorted(unexpected)}")
    if not drop_ids:
        raise ValueError("nothing to write: the DataFrame is empty and no drop_ids were given")
    _pause_before_commit()
    props = CommitProperties(
        app_transactions=[Transaction(app_id, 1)] if app_id else None,
        custom_metadata={"pixels_pipeline.drop_ids": ",".join(drop_ids)},
    )
    version = _commit(table_uri, schema, adds, drop_ids=drop_ids, props=props, storage=storage)
    return CommitResult(version, len(adds), sum(r["num_records"] for r in files), skipped=False)


def _commit(
    table_uri: str,
    schema: pa.Schema,
    adds: list[AddAction],
    *,
    drop_ids: Sequence[str],
    props: CommitProperties,
    storage: dict[str, str],
) -> int:
    delta_schema = DeltaSchema.from_arrow(schema)
    name = table_uri.rstrip("/").rsplit("/", 1)[-1]
    if not DeltaTable.is_deltatable(table_uri, storage_options=storage):
        try:
            create_table_with_add_actions(
                table_uri,
                delta_schema,
                adds,
                mode="error",
                partition_by=[PARTITION_COLUMN],
                name=name,
                storage_options=storage,
                commit_properties=props,
            )
            return DeltaTable(table_uri, storage_options=storage).version()
        except Exception:
            if not DeltaTable.is_deltatable(table_uri, storage_options=storage):
                raise  # not a lost creation race: a real failure
    for attempt in range(_COMMIT_ATTEMPTS):
        table = DeltaTable(table_uri, storage_options=storage)
        try:
            table.create_write_transaction(
                list[AddAction | RemoveAction](adds),
                mode="overwrite",
                schema=delta_schema,
                partition_by=[PARTITION_COLUMN],
                partition_filters=[(PARTITION_COLUMN, "in", list(drop_ids))],
                commit_properties=props,
            )
            table.update_incremental()
            return table.version()
        except CommitFailedError:
            # A concurrent writer committed first: our partitions are ours alone, so
            # reloading and committing again loses and duplicates nothing.
            if attempt == _COMMIT_ATTEMPTS - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def _pause_before_commit() -> None:
    """Fault injection for crash tests: with ``PIXELS_PIPELINE_PAUSE_BEFORE_COMMIT=<s>``
    the writer announces on stderr that its data files are written, then waits."""
    seconds = os.environ.get("PIXELS_PIPELINE_PAUSE_BEFORE_COMMIT")
    if seconds:
        print(PAUSE_MARKER, file=sys.stderr, flush=True)
        time.sleep(float(seconds))


@dataclass(frozen=True)
class MaintenanceResult:
    """What compaction and vacuum did to one table."""

    files_before: int
    files_after: int
    files_removed_by_compaction: int
    files_deleted_by_vacuum: int
    version: int


def compact_and_vacuum(
    table_uri: str,
    *,
    retention_hours: int,
    target_file_bytes: int = 128 * 1024 * 1024,
    options: StorageOptions | None = None,
) -> MaintenanceResult:
    """Rewrite small data files into larger ones, then delete files that no version
    younger than ``retention_hours`` needs, including orphans of killed writers.

    Time travel keeps working for ``retention_hours``; the history stays in the log.
    """
    storage = (options or StorageOptions()).delta_options()
    table = DeltaTable(table_uri, storage_options=storage)
    before = len(table.file_uris())
    metrics = table.optimize.compact(target_size=target_file_bytes)
    table.update_incremental()
    deleted = table.vacuum(
        retention_hours=retention_hours,
        dry_run=False,
        enforce_retention_duration=False,
        full=True,  # also untracked files: data files of writes that never committed
    )
    table.update_incremental()
    return MaintenanceResult(
        files_before=before,
        files_after=len(table.file_uris()),
        files_removed_by_compaction=int(metrics.get("numFilesRemoved", 0)),
        files_deleted_by_vacuum=len(deleted),
        version=table.version(),
    )


def partition_uri(table_uri: str, drop_id: str) -> str:
    """Folder of one partition's data files."""
    return join_uri(table_uri, f"{PARTITION_COLUMN}={drop_id}")
