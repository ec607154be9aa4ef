"""Incremental updates: re-process only added or changed files of a drop.

Every catalog row carries a ``fingerprint`` (size + modification time, optionally a
content hash). A downstream table stores the fingerprint of the catalog row each of its
rows came from, so re-materializing a drop:

* processes only catalog rows whose ``(row_id, fingerprint)`` the table does not hold yet,
* keeps the table's rows whose ``(row_id, fingerprint)`` is still in the catalog,
* drops rows of deleted or changed files,

and the caller writes ``keep + processed`` as the drop's partitions in one commit (one
Spark job each: new rows are computed inside the writer's tasks). Kept
rows are copied, never recomputed; with nothing added, changed or deleted there is no
commit at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.functions import coalesce, col

from pixels_pipeline.spark.delta_reader import open_table, read_table_uri
from pixels_pipeline.spark.delta_writer import CommitResult, write_partitions
from pixels_pipeline.spark.mapped import MappedRows, Rows
from pixels_pipeline.spark.schemas import OBJECT_CATALOG
from pixels_pipeline.storage.uri import StorageOptions

KEY = ["row_id", "fingerprint"]


@dataclass(frozen=True)
class Update:
    """What a re-materialization of some drops has to do to one table."""

    rows: list[Rows]  # the drops' complete new contents (lazy): kept rows, new rows
    processed: int  # catalog rows (files) to compute
    kept: int  # table rows carried over unchanged
    removed: int  # table rows of deleted or changed files
    changed: bool  # False: the table already matches the catalog, skip the commit


def plan_update(
    catalog: DataFrame,
    existing: DataFrame | None,
    build: Callable[[DataFrame, int], Rows],
) -> Update:
    """``build(todo_catalog_rows, n)`` computes new rows: a DataFrame (its fingerprint
    column, if any, is replaced from the catalog by a join) or
    :class:`~pixels_pipeline.spark.mapped.MappedRows` (which carry the fingerprint and
    are computed inside the writer's tasks); ``existing`` is the table's current rows for
    the same drops (None: no table yet)."""
    current = catalog.select(*KEY)
    if existing is None:
        todo, n_todo = catalog, catalog.count()
        keep, n_keep, n_removed = None, 0, 0
    else:
        done = existing.select(*KEY).distinct()
        todo = catalog.join(done, KEY, "left_anti")
        n_todo = todo.count()
        keep = existing.join(current, KEY, "left_semi")
        n_existing = existing.count()
        n_keep = keep.count()
        n_removed = n_existing - n_keep
    new = build(todo, n_todo)
    if not isinstance(new, MappedRows):
        if "fingerprint" in new.columns:
            new = new.drop("fingerprint")
        new = new.join(todo.select(*KEY), "row_id")
    rows = [new] if keep is None else [keep, new]
    changed = existing is None or n_todo > 0 or n_removed > 0
    return Update(rows, n_todo, n_keep, n_removed, changed)


@dataclass(frozen=True)
class TableUpdate:
    """What one incremental materialization did to one table."""

    commit: CommitResult | None  # None: the table already matched, nothing committed
    processed: int
    kept: int
    removed: int


def update_partitions(
    spark: SparkSession,
    table_uri: str,
    schema: pa.Schema,
    catalog: DataFrame,
    build: Callable[[DataFrame, int], Rows],
    *,
    drop_ids: Sequence[str],
    app_id: str | None = None,
    options: StorageOptions | None = None,
) -> TableUpdate:
    """Bring the ``drop_ids`` partitions of a downstream table in line with ``catalog``
    (its rows for those drops), computing only what is new, in at most one commit."""
    existing = (
        read_table_uri(spark, table_uri, schema, drop_ids=drop_ids, options=options)
        if open_table(table_uri, options) is not None
        else None
    )
    plan = plan_update(catalog, existing, build)
    commit = None
    if plan.changed:
        commit = write_partitions(
            plan.rows, table_uri, schema, drop_ids=drop_ids, app_id=app_id, options=options
        )
    return TableUpdate(commit, plan.processed, plan.kept, plan.removed)


def refresh_catalog(
    spark: SparkSession,
    table_uri: str,
    listing: DataFrame,
    *,
    drop_ids: Sequence[str],
    app_id: str | None = None,
    options: StorageOptions | None = None,
) -> TableUpdate:
    """Replace the drops' catalog rows by a new ``listing`` unless nothing changed.

    Unchanged files keep their first ``ingested_at``; the listing is computed once.
    """
    fresh = listing.localCheckpoint()
    table = open_table(table_uri, options)
    if table is None:
        commit = write_partitions(
            fresh, table_uri, OBJECT_CATALOG, drop_ids=drop_ids, app_id=app_id, options=options
        )
        return TableUpdate(commit, fresh.count(), 0, 0)
    old = read_table_uri(spark, table_uri, OBJECT_CATALOG, drop_ids=drop_ids, options=options)
    added = fresh.join(old.select(*KEY), KEY, "left_anti").count()
    removed = old.join(fresh.select(*KEY), KEY, "left_anti").count()
    kept = fresh.count() - added
    if added == 0 and removed == 0:
        return TableUpdate(None, 0, kept, 0)
    first_seen = old.select(*KEY, col("ingested_at").alias("_first_seen"))
    rows = (
        fresh.join(first_seen, KEY, "left")
        .withColumn("ingested_at", coalesce(col("_first_seen"), col("ingested_at")))
        .drop("_first_seen")
    )
    commit = write_partitions(
        rows, table_uri, OBJECT_CATALOG, drop_ids=drop_ids, app_id=app_id, options=options
    )
    return TableUpdate(commit, added, kept, removed)
