"""Incremental updates: re-process only added or changed files of a drop.

Every catalog row carries a ``fingerprint`` (size + modification time, optionally a
content hash). A downstream table stores the fingerprint of the catalog row each of its
rows came from, so re-materializing a drop:

* computes rows only for catalog rows whose ``(row_id, fingerprint)`` the table lacks,
* keeps the table's rows whose ``(row_id, fingerprint)`` is still in the catalog,
* deletes rows of deleted or changed files,

as one Delta ``MERGE`` (only data files holding deleted rows are rewritten; new rows go
to new files). A drop the
table holds no rows of yet is written by a partition overwrite instead; with nothing
added, changed or deleted there is no commit at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession

from pixels_pipeline.spark.delta_reader import partition_row_counts, read_table_uri
from pixels_pipeline.spark.delta_writer import (
    CommitResult,
    merge_partitions,
    replace_partitions,
)
from pixels_pipeline.spark.mapped import MappedRows, Rows
from pixels_pipeline.spark.schemas import PARTITION_COLUMN, TABLES
from pixels_pipeline.storage.uri import StorageOptions

KEY = ["row_id", "fingerprint"]


@dataclass(frozen=True)
class TableUpdate:
    """What one incremental materialization did to one table."""

    commit: CommitResult | None  # None: the table already matched, nothing committed
    processed: int  # catalog rows (files) computed
    kept: int  # table rows carried over unchanged
    removed: int  # table rows of deleted or changed files


def _new_rows(build: Callable[[DataFrame, int], Rows], todo: DataFrame, n_todo: int) -> DataFrame:
    """``build``'s rows for the files to compute, with the catalog's fingerprints."""
    new = build(todo, n_todo)
    if isinstance(new, MappedRows):
        return new.to_dataframe()  # the UDFs pass the fingerprint through
    if "fingerprint" in new.columns:
        new = new.drop("fingerprint")
    return new.join(todo.select(*KEY), "row_id")


def update_partitions(
    spark: SparkSession,
    table_uri: str,
    table: str,
    catalog: DataFrame,
    build: Callable[[DataFrame, int], Rows],
    *,
    drop_ids: Sequence[str],
    app_id: str | None = None,
    options: StorageOptions | None = None,
) -> TableUpdate:
    """Bring the ``drop_ids`` partitions of a downstream table in line with ``catalog``
    (its rows for those drops), computing only what is new, in at most one commit."""
    held = sum(partition_row_counts(table_uri, drop_ids, options).values())
    if held == 0:
        n = catalog.count()
        commit = replace_partitions(
            _new_rows(build, catalog, n),
            table_uri,
            table,
            drop_ids=drop_ids,
            app_id=app_id,
            options=options,
        )
        return TableUpdate(commit, n, 0, 0)
    existing = read_table_uri(spark, table_uri, TABLES[table], drop_ids=drop_ids, options=options)
    current = catalog.select(PARTITION_COLUMN, *KEY)
    done = existing.select(PARTITION_COLUMN, *KEY).distinct()
    todo = catalog.join(done, [PARTITION_COLUMN, *KEY], "left_anti")
    n_todo = todo.count()
    gone = done.join(current, [PARTITION_COLUMN, *KEY], "left_anti").localCheckpoint()
    n_removed = existing.join(gone, [PARTITION_COLUMN, *KEY], "left_semi").count()
    n_keep = held - n_removed
    if n_todo == 0 and n_removed == 0:
        return TableUpdate(None, 0, n_keep, 0)
    commit = merge_partitions(
        _new_rows(build, todo, n_todo),
        gone,
        table_uri,
        table,
        drop_ids=drop_ids,
        key=KEY,
        app_id=app_id,
        options=options,
    )
    return TableUpdate(commit, n_todo, n_keep, n_removed)


def refresh_catalog(
    spark: SparkSession,
    table_uri: str,
    listing: DataFrame,
    *,
    drop_ids: Sequence[str],
    app_id: str | None = None,
    options: StorageOptions | None = None,
) -> TableUpdate:
    """Bring the drops' catalog rows in line with a new ``listing`` (computed once).

    A ``MERGE`` inserts new or changed files and deletes gone or changed ones; unchanged
    files' rows are not touched, so they keep their first ``ingested_at``.
    """
    fresh = listing.localCheckpoint()
    held = sum(partition_row_counts(table_uri, drop_ids, options).values())
    if held == 0:
        commit = replace_partitions(
            fresh, table_uri, "object_catalog", drop_ids=drop_ids, app_id=app_id, options=options
        )
        return TableUpdate(commit, fresh.count(), 0, 0)
    old = read_table_uri(
        spark, table_uri, TABLES["object_catalog"], drop_ids=drop_ids, options=options
    ).select(PARTITION_COLUMN, *KEY)
    keys = [PARTITION_COLUMN, *KEY]
    new = fresh.join(old, keys, "left_anti")
    gone = old.join(fresh.select(*keys), keys, "left_anti").localCheckpoint()
    added, removed = new.count(), gone.count()
    kept = held - removed
    if added == 0 and removed == 0:
        return TableUpdate(None, 0, kept, 0)
    commit = merge_partitions(
        new,
        gone,
        table_uri,
        "object_catalog",
        drop_ids=drop_ids,
        key=KEY,
        app_id=app_id,
        options=options,
    )
    return TableUpdate(commit, added, kept, removed)
