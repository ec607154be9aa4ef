"""The one table writer: Spark's Delta writer, nothing else.

* First materialization of drops: a partition overwrite (``replaceWhere``) of exactly
  those drops' partitions.
* Re-materialization: one ``MERGE`` that inserts the rows of added or changed files and
  deletes the rows of deleted or changed files of those drops, so only data files
  holding affected rows are rewritten.

Runs of the same drops never interleave their commits: a caller that planned its rows
from the table as of ``read_version`` passes it, and the write raises
:class:`TableChangedError` instead of committing when another commit touched those
drops since (checked on the driver just before the write; Delta's own conflict detection
covers the write's transaction itself, and its conflicts become the same error).

Retried steps stay idempotent with Delta's own transaction ids: a write carrying an
``app_id`` already in the table's log is skipped (``txnAppId``/``txnVersion`` options for
writes, the ``spark.databricks.delta.write.txnAppId/txnVersion`` session confs for MERGE),
and is not even computed: the driver checks the log first.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass

import pyarrow as pa
from deltalake import DeltaTable as LogReader
from pyspark.sql import DataFrame
from pyspark.sql.functions import lit

from pixels_pipeline.dicom.errors import TRANSIENT_ERRORS
from pixels_pipeline.spark.delta_reader import commits_touching
from pixels_pipeline.spark.delta_tables import (
    ensure_table,
    path_identifier,
    sql_string,
    table_exists,
)
from pixels_pipeline.spark.mapped import MappedRows, Rows
from pixels_pipeline.spark.object_store import spark_path, use_object_store
from pixels_pipeline.spark.schemas import PARTITION_COLUMN, TABLES, spark_schema
from pixels_pipeline.spark.scoped_conf import scoped_confs
from pixels_pipeline.storage.uri import StorageOptions

__all__ = [
    "DELETE_COLUMN",
    "PAUSE_MARKER",
    "CommitResult",
    "TableChangedError",
    "drops_predicate",
    "is_conflict",
    "merge_by_key",
    "merge_partitions",
    "replace_keys",
    "replace_partitions",
    "transaction_version",
    "transient_predicate",
]

PAUSE_MARKER = "pixels_pipeline: data files being written, pausing before commit"
DELETE_COLUMN = "_pixels_delete"  # MERGE source marker: delete the rows of this key
_TXN_APP_ID = "spark.databricks.delta.write.txnAppId"
_TXN_VERSION = "spark.databricks.delta.write.txnVersion"
_TXN_VERSION_VALUE = 1  # one write per app id: a run, a table and its drops


# Delta's commit conflicts (io.delta.exceptions.*), by class name or error class.
_CONFLICTS = (
    "ConcurrentAppend",
    "ConcurrentDelete",
    "ConcurrentTransaction",
    "ConcurrentWrite",
    "MetadataChanged",
    "ProtocolChanged",
    "DELTA_CONCURRENT",
)


class TableChangedError(RuntimeError):
    """The table's partitions changed while this run was computing its update: committing
    would overwrite a newer result with a stale one. Plan again from the current version."""


def is_conflict(exc: BaseException) -> bool:
    """Whether ``exc`` is one of Delta's concurrent-modification errors."""
    text = f"{type(exc).__name__} {exc}"
    return any(name in text for name in _CONFLICTS)


def _check_unchanged(
    uri: str,
    table: str,
    drop_ids: Sequence[str],
    read_version: int | None,
    options: StorageOptions | None,
    *,
    own: int | None = None,
) -> int | None:
    """Raise :class:`TableChangedError` if a commit after ``read_version`` (other than our
    ``own``) touched ``drop_ids``; return the version checked up to."""
    if read_version is None:
        return None
    upto = _version(uri, options)
    touched = [
        v for v in commits_touching(uri, drop_ids, read_version, options, until=upto) if v != own
    ]
    if touched:
        raise TableChangedError(
            f"{table} changed while running: drops {', '.join(drop_ids)} were committed to "
            f"in version(s) {', '.join(map(str, touched))} after this run read version "
            f"{read_version}" + (f" (this run committed version {own})" if own else "")
        )
    return max(read_version, upto)


def _version(uri: str, options: StorageOptions | None) -> int:
    if not table_exists(uri, options):
        return -1
    return LogReader(uri, storage_options=(options or StorageOptions()).delta_options()).version()


def _commit_or_raise(
    write: Callable[[], object],
    uri: str,
    table: str,
    drop_ids: Sequence[str],
    read_version: int | None,
    options: StorageOptions | None,
) -> None:
    """Check, run the Spark write, check again.

    Before: no commit touched the drops since ``read_version``. During: Delta's conflict
    detection, whose errors become :class:`TableChangedError`. After: a commit that slipped
    in between the first check and the start of Delta's transaction is found in the log
    (our stale rows were committed over it): :class:`TableChangedError`, so the caller
    plans again and commits the repair at once."""
    checked = _check_unchanged(uri, table, drop_ids, read_version, options)
    try:
        write()
    except Exception as exc:
        if is_conflict(exc):
            raise TableChangedError(
                f"{table} changed while running: a concurrent commit conflicts with this "
                f"write of drops {', '.join(drop_ids)} ({type(exc).__name__})"
            ) from exc
        raise
    if checked is not None:
        # Our commit is the newest version now, unless a later one followed it (which then
        # planned after us, or fails its own checks).
        _check_unchanged(uri, table, drop_ids, checked, options, own=_version(uri, options))


@dataclass(frozen=True)
class CommitResult:
    """What one write did to a table."""

    version: int  # table version after the write
    files: int  # data files added
    rows: int  # rows inserted
    skipped: bool  # the app transaction was committed before (a retried step): nothing done
    operation: str = "WRITE"  # WRITE (partition overwrite) or MERGE
    rows_deleted: int = 0  # rows removed by a MERGE


def drops_predicate(drop_ids: Sequence[str], alias: str | None = None) -> str:
    """SQL ``drop_id IN (...)``, optionally qualified by a table alias."""
    column = f"{alias}.{PARTITION_COLUMN}" if alias else PARTITION_COLUMN
    return f"{column} IN ({', '.join(sql_string(d) for d in drop_ids)})"


def transient_predicate(alias: str | None = None) -> str:
    """SQL: the row's ``error_type`` is transient (retried on the next materialization)."""
    column = f"{alias}.error_type" if alias else "error_type"
    values = ", ".join(sql_string(t.value) for t in sorted(TRANSIENT_ERRORS))
    return f"{column} IN ({values})"


def _committed_before(uri: str, app_id: str | None, options: StorageOptions | None) -> int | None:
    """The table version if ``app_id`` is already in its log (read by delta-rs)."""
    if app_id is None or not table_exists(uri, options):
        return None
    log = LogReader(uri, storage_options=(options or StorageOptions()).delta_options())
    return log.version() if log.transaction_version(app_id) is not None else None


def _last_commit(uri: str, options: StorageOptions | None, *, skipped: bool) -> CommitResult:
    log = LogReader(uri, storage_options=(options or StorageOptions()).delta_options())
    if skipped:
        return CommitResult(log.version(), 0, 0, skipped=True)
    info = log.history(1)[0]
    metrics = {
        k: int(v) for k, v in (info.get("operationMetrics") or {}).items() if str(v).isdigit()
    }
    operation = str(info.get("operation", "WRITE"))
    if operation == "MERGE":
        return CommitResult(
            log.version(),
            metrics.get("numTargetFilesAdded", 0),
            metrics.get("numTargetRowsInserted", 0),
            skipped=False,
            operation=operation,
            rows_deleted=metrics.get("numTargetRowsDeleted", 0),
        )
    return CommitResult(
        log.version(), metrics.get("numFiles", 0), metrics.get("numOutputRows", 0), False, operation
    )


def _dataframe(rows: Rows | Sequence[Rows]) -> DataFrame:
    parts = [rows] if isinstance(rows, DataFrame | MappedRows) else list(rows)
    frames = [p.to_dataframe() if isinstance(p, MappedRows) else p for p in parts]
    out = frames[0]
    for frame in frames[1:]:
        out = out.unionByName(frame)
    return out


def replace_partitions(
    rows: Rows | Sequence[Rows],
    table_uri: str,
    table: str,
    *,
    drop_ids: Sequence[str],
    app_id: str | None = None,
    options: StorageOptions | None = None,
    read_version: int | None = None,
) -> CommitResult:
    """Replace the ``drop_ids`` partitions of a Delta table with ``rows`` in one commit
    (Spark's writer, ``replaceWhere``). Rows of other drops fail the write; a drop that
    gets no rows becomes empty. With ``read_version`` (the version ``rows`` were planned
    from), raises :class:`TableChangedError` if those drops were committed to since."""
    if not drop_ids:
        raise ValueError("nothing to write: no drop_ids were given")
    if _committed_before(table_uri, app_id, options) is not None:
        return _last_commit(table_uri, options, skipped=True)
    frame = _dataframe(rows)
    spark = frame.sparkSession
    use_object_store(spark, options)
    ensure_table(spark, table_uri, table, options)
    names = TABLES[table].names
    writer = (
        _with_pause(frame.select(*names), TABLES[table])
        .write.format("delta")
        .mode("overwrite")
        .option("replaceWhere", drops_predicate(drop_ids))
    )
    if app_id is not None:
        writer = writer.option("txnAppId", app_id).option("txnVersion", _TXN_VERSION_VALUE)
    _commit_or_raise(
        lambda: writer.save(spark_path(table_uri)),
        table_uri,
        table,
        drop_ids,
        read_version,
        options,
    )
    return _last_commit(table_uri, options, skipped=False)


def merge_partitions(
    inserts: DataFrame,
    deletes: DataFrame | None,
    table_uri: str,
    table: str,
    *,
    drop_ids: Sequence[str],
    key: Sequence[str],
    app_id: str | None = None,
    options: StorageOptions | None = None,
    read_version: int | None = None,
) -> CommitResult:
    """One ``MERGE`` into the ``drop_ids`` partitions: insert ``inserts`` (rows whose
    ``key`` the table lacks) and delete every row matching a key of ``deletes``
    (``drop_id`` + ``key`` columns). ``deletes`` None: an insert-only ``MERGE`` (Delta
    runs it as an anti-join against the drops' keys; no data file is rewritten, and it is
    conflict-checked like any MERGE, which a blind append is not).

    Deletions are matched explicitly rather than through ``WHEN NOT MATCHED BY SOURCE``:
    Delta 4.4 then rewrites every data file of the table that the clause could reach
    (other drops included, measured), while a matched delete rewrites only the files that
    hold deleted rows. Insert-only merges rewrite nothing.

    A table row with a transient error (:data:`TRANSIENT_ERRORS`) is never matched by an
    insert: its key is both deleted and inserted, so the retried row replaces it.
    ``read_version``: as for :func:`replace_partitions`.
    """
    if _committed_before(table_uri, app_id, options) is not None:
        return _last_commit(table_uri, options, skipped=True)
    spark = inserts.sparkSession
    use_object_store(spark, options)
    ensure_table(spark, table_uri, table, options)
    names = TABLES[table].names
    source = _with_pause(inserts.select(*names), TABLES[table])
    columns = ", ".join(f"`{n}`" for n in names)
    values = ", ".join(f"s.`{n}`" for n in names)
    matched = [
        drops_predicate(drop_ids, "t"),
        *(f"t.`{k}` <=> s.`{k}`" for k in [PARTITION_COLUMN, *key]),
    ]
    kept = f"NOT coalesce({transient_predicate('t')}, false)"
    view = f"pixels_merge_{uuid.uuid4().hex}"
    if deletes is None:
        source.createOrReplaceTempView(view)
        on = " AND ".join([*matched, kept])
        clauses = f"WHEN NOT MATCHED THEN INSERT ({columns}) VALUES ({values})"
    else:
        marks = deletes.select(PARTITION_COLUMN, *key).withColumn(DELETE_COLUMN, lit(True))
        source.withColumn(DELETE_COLUMN, lit(False)).unionByName(
            marks, allowMissingColumns=True
        ).createOrReplaceTempView(view)
        on = " AND ".join([*matched, f"(s.{DELETE_COLUMN} OR {kept})"])
        clauses = (
            f"WHEN MATCHED AND s.{DELETE_COLUMN} THEN DELETE "
            f"WHEN NOT MATCHED AND NOT s.{DELETE_COLUMN} THEN INSERT ({columns}) VALUES ({values})"
        )
    statement = f"MERGE INTO {path_identifier(table_uri)} AS t USING {view} AS s ON {on} {clauses}"
    txn = {} if app_id is None else {_TXN_APP_ID: app_id, _TXN_VERSION: str(_TXN_VERSION_VALUE)}
    try:
        with scoped_confs(spark, txn) as session:
            _commit_or_raise(
                lambda: session.sql(statement), table_uri, table, drop_ids, read_version, options
            )
    finally:
        spark.catalog.dropTempView(view)
    return _last_commit(table_uri, options, skipped=False)


def transaction_version(uri: str, app_id: str, options: StorageOptions | None = None) -> int | None:
    """The last ``txnVersion`` committed under ``app_id`` (read by delta-rs), or None."""
    if not table_exists(uri, options):
        return None
    log = LogReader(uri, storage_options=(options or StorageOptions()).delta_options())
    version = log.transaction_version(app_id)
    return None if version is None else int(version)


def merge_by_key(
    rows: DataFrame,
    deletes: DataFrame,
    table_uri: str,
    table: str,
    *,
    key: str,
    txn: tuple[str, int],
    options: StorageOptions | None = None,
) -> CommitResult:
    """One ``MERGE`` into an unpartitioned table keyed by ``key``: each of ``rows``
    replaces or inserts its key's row; keys of ``deletes`` (a ``key`` column) that
    ``rows`` lacks lose their row.

    ``txn`` = ``(app_id, version)`` is committed with the data (Delta's
    ``SetTransaction``): a write whose version is not above the one recorded for
    ``app_id`` is skipped, so a retried step commits once and the recorded version says,
    atomically with the data, what input the table reflects.
    """
    app_id, version = txn
    done = transaction_version(table_uri, app_id, options)
    if done is not None and done >= version:
        return _last_commit(table_uri, options, skipped=True)
    spark = rows.sparkSession
    use_object_store(spark, options)
    ensure_table(spark, table_uri, table, options)
    names = TABLES[table].names
    source = rows.select(*names).withColumn(DELETE_COLUMN, lit(False))
    marks = (
        deletes.select(key)
        .distinct()
        .join(rows.select(key), key, "left_anti")
        .withColumn(DELETE_COLUMN, lit(True))
    )
    view = f"pixels_merge_{uuid.uuid4().hex}"
    source.unionByName(marks, allowMissingColumns=True).createOrReplaceTempView(view)
    sets = ", ".join(f"t.`{n}` = s.`{n}`" for n in names)
    columns = ", ".join(f"`{n}`" for n in names)
    values = ", ".join(f"s.`{n}`" for n in names)
    statement = (
        f"MERGE INTO {path_identifier(table_uri)} AS t USING {view} AS s "
        f"ON t.`{key}` = s.`{key}` "
        f"WHEN MATCHED AND s.{DELETE_COLUMN} THEN DELETE "
        f"WHEN MATCHED THEN UPDATE SET {sets} "
        f"WHEN NOT MATCHED AND NOT s.{DELETE_COLUMN} THEN INSERT ({columns}) VALUES ({values})"
    )
    try:
        with scoped_confs(spark, {_TXN_APP_ID: app_id, _TXN_VERSION: str(version)}) as session:
            session.sql(statement)
    finally:
        spark.catalog.dropTempView(view)
    return _last_commit(table_uri, options, skipped=False)


REPLACE_MAX_KEYS = 5_000  # keys named in one replaceWhere predicate, at most


def replace_keys(
    rows: DataFrame,
    keys: Collection[str],
    table_uri: str,
    table: str,
    *,
    key: str,
    txn: tuple[str, int],
    options: StorageOptions | None = None,
) -> CommitResult:
    """What :func:`merge_by_key` does, for at most :data:`REPLACE_MAX_KEYS` ``keys``
    known on the driver: one overwrite with ``replaceWhere`` ``key IN (keys)``. The rows
    of those keys are replaced by ``rows`` (whose keys must be among them), keys without
    rows lose theirs; only files holding such a key are rewritten, and no join is planned.

    The predicate is evaluated on the table as it is at commit time, and Delta's conflict
    detection fails the write when a concurrent commit added rows it matches: a plan made
    before another update committed cannot leave a key twice. ``txn`` as in
    :func:`merge_by_key`."""
    if len(keys) > REPLACE_MAX_KEYS:
        raise ValueError(f"at most {REPLACE_MAX_KEYS} keys per replaceWhere, got {len(keys)}")
    app_id, version = txn
    done = transaction_version(table_uri, app_id, options)
    if done is not None and done >= version:
        return _last_commit(table_uri, options, skipped=True)
    spark = rows.sparkSession
    use_object_store(spark, options)
    ensure_table(spark, table_uri, table, options)
    named = ", ".join(sql_string(k) for k in sorted(keys)) or "NULL"
    writer = (
        rows.select(*TABLES[table].names)
        .write.format("delta")
        .mode("overwrite")
        .option("replaceWhere", f"`{key}` IN ({named})")
        .option("txnAppId", app_id)
        .option("txnVersion", version)
    )
    writer.save(spark_path(table_uri))
    return _last_commit(table_uri, options, skipped=False)


def _with_pause(frame: DataFrame, schema: pa.Schema | None) -> DataFrame:
    """Fault injection for crash tests: with ``PIXELS_PIPELINE_PAUSE_BEFORE_COMMIT=<s>`` the
    write runs as two tasks; the first writes its data file, the second announces on
    stderr that it is pausing, then waits, so a test can kill the run after data files
    were written and before Delta commits. Unset (always, in production): unchanged."""
    seconds = os.environ.get("PIXELS_PIPELINE_PAUSE_BEFORE_COMMIT")
    if not seconds:
        return frame
    out = frame.schema if schema is None else spark_schema(schema)
    return frame.repartition(2).mapInArrow(_Pause(float(seconds)), out)


@dataclass(frozen=True)
class _Pause:
    seconds: float

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import TaskContext

        context = TaskContext.get()
        if context is not None and context.partitionId() > 0:
            print(PAUSE_MARKER, file=sys.stderr, flush=True)
            time.sleep(self.seconds)
        yield from batches
