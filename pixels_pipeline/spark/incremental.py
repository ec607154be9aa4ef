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

Rows with a transient error (I/O, object store, decoder crash or timeout) are computed
again every time, unchanged file or not. A catalog row saying a sub-folder could not be
listed keeps the existing rows of the files below it (a failed listing is not a deletion).

Each update is planned from one pinned table version and commits only if no other commit
touched its drops since (else it plans once more, then raises
:class:`~pixels_pipeline.spark.delta_writer.TableChangedError`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql.functions import col, concat, expr, lit

from pixels_pipeline.spark.catalog import UNLISTED_FOLDER, CatalogListing
from pixels_pipeline.spark.catalog_delta import sniff_changed
from pixels_pipeline.spark.delta_reader import (
    local_frame,
    partition_row_counts,
    read_table_uri,
    small_partitions,
    table_version_of,
)
from pixels_pipeline.spark.delta_writer import (
    CommitResult,
    TableChangedError,
    merge_partitions,
    replace_partitions,
    transient_predicate,
)
from pixels_pipeline.spark.key_diff import (
    DIFF_MAX_ROWS,
    KEYS,
    KeyDiff,
    diff_keys,
    key_frame,
    rows_of_keys,
    rows_with_keys,
)
from pixels_pipeline.spark.mapped import MappedRows, Rows
from pixels_pipeline.spark.schemas import OBJECT_CATALOG, PARTITION_COLUMN, TABLES
from pixels_pipeline.storage.uri import StorageOptions

KEY = ["row_id", "fingerprint"]
PLAN_ATTEMPTS = 2  # a plan overtaken by another run's commit is made once more


def _settled() -> Column:
    """Rows whose outcome is final for their fingerprint (success or a deterministic error)."""
    return ~expr(f"coalesce({transient_predicate()}, false)")


def _planned(
    plan: Callable[[int, str | None], TableUpdate],
    table_uri: str,
    app_id: str | None,
    options: StorageOptions | None,
    *,
    attempts: int = PLAN_ATTEMPTS,
) -> TableUpdate:
    """``plan(version, app_id)`` at the table's current version; again if it was overtaken
    (with its own app id: a first attempt that did commit must not skip the repair)."""
    for attempt in range(1, attempts + 1):
        app = app_id if app_id is None or attempt == 1 else f"{app_id}:plan{attempt}"
        try:
            return plan(table_version_of(table_uri, options), app)
        except TableChangedError:
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")


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
    catalog_uri: str | None = None,
    catalog_rows: pa.Table | None = None,
    dicom_only: bool = False,
) -> TableUpdate:
    """Bring the ``drop_ids`` partitions of a downstream table in line with ``catalog``
    (its rows for those drops), computing only what is new or failed transiently, in at
    most one commit. ``catalog_uri``: where ``catalog`` is read from, so that small
    partitions with nothing to do are recognised on the driver, without a Spark job.
    ``catalog_rows``: ``catalog``'s rows when they were read on the driver; the files to
    compute are then picked there, and the ``MERGE`` source starts from those rows only
    (no join of the whole catalog with the keys).
    ``dicom_only``: the table has rows for DICOM files only (images), so other catalog
    rows are neither computed again on every update nor a change."""
    if dicom_only:
        catalog = catalog.where("is_dicom")

    def plan(version: int, app_id: str | None) -> TableUpdate:
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
                read_version=version,
            )
            return TableUpdate(commit, n, 0, 0)
        diff = _driver_diff(
            catalog_uri, catalog_rows, table_uri, drop_ids, version, options, dicom_only
        )
        if diff is None:
            todo, n_todo, gone, n_removed = _spark_diff(
                spark, table_uri, table, catalog, drop_ids, version, options
            )
        else:
            todo = (
                rows_with_keys(catalog, diff.todo)
                if catalog_rows is None
                else local_frame(spark, rows_of_keys(catalog_rows, diff.todo), OBJECT_CATALOG)
            )
            n_todo = diff.todo.num_rows
            gone = key_frame(spark, diff.gone) if diff.gone.num_rows else None
            n_removed = diff.removed
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
            read_version=version,
        )
        return TableUpdate(commit, n_todo, n_keep, n_removed)

    return _planned(plan, table_uri, app_id, options)


def _driver_diff(
    catalog_uri: str | None,
    catalog_rows: pa.Table | None,
    table_uri: str,
    drop_ids: Sequence[str],
    version: int,
    options: StorageOptions | None,
    dicom_only: bool,
) -> KeyDiff | None:
    """The plan from the key columns of both tables read on the driver (delta-rs; the
    catalog's from ``catalog_rows`` when they are there already), or None when either
    side is too big for that (then :func:`_spark_diff`)."""
    if catalog_uri is None:
        return None
    columns = [*KEYS, "error_type"]
    held = small_partitions(
        table_uri, drop_ids, columns, options, version=version, max_rows=DIFF_MAX_ROWS
    )
    current = (
        small_partitions(
            catalog_uri, drop_ids, [*KEYS, "is_dicom"], options, max_rows=DIFF_MAX_ROWS
        )
        if catalog_rows is None
        else catalog_rows.select([*KEYS, "is_dicom"])
    )
    if held is None or current is None:
        return None
    if dicom_only:
        current = current.filter(pc.fill_null(current.column("is_dicom"), False))
    return diff_keys(held, current)


def _spark_diff(
    spark: SparkSession,
    table_uri: str,
    table: str,
    catalog: DataFrame,
    drop_ids: Sequence[str],
    version: int,
    options: StorageOptions | None,
) -> tuple[DataFrame, int, DataFrame | None, int]:
    """The plan as Spark jobs, for drops too big to read on the driver: the catalog rows
    to compute and their number, the keys whose rows go and the number of those rows."""
    existing = read_table_uri(
        spark, table_uri, TABLES[table], drop_ids=drop_ids, options=options, version=version
    )
    keys = [PARTITION_COLUMN, *KEY]
    current = catalog.select(*keys)
    done = existing.select(*keys).distinct()
    settled = existing.where(_settled()).select(*keys).distinct()
    retry = done.join(settled, keys, "left_anti").join(current, keys, "left_semi")
    todo = catalog.join(settled, keys, "left_anti")
    n_todo = todo.count()
    gone = done.join(current, keys, "left_anti").unionByName(retry).localCheckpoint()
    n_removed = existing.join(gone, keys, "left_semi").count()
    return todo, n_todo, gone if n_removed else None, n_removed


def refresh_catalog(
    spark: SparkSession,
    table_uri: str,
    listing: DataFrame | Callable[[], DataFrame | CatalogListing],
    *,
    drop_ids: Sequence[str],
    app_id: str | None = None,
    options: StorageOptions | None = None,
) -> TableUpdate:
    """Bring the drops' catalog rows in line with a new ``listing``.

    A ``MERGE`` inserts new or changed files and deletes gone or changed ones; unchanged
    files' rows are not touched, so they keep their first ``ingested_at``. Rows of files
    below a folder the listing could not read are kept; rows with a transient error are
    replaced by the new listing's. ``listing``: a function listing the drops (called again
    when the plan is made again), or a DataFrame (then an overtaken plan raises). A
    :class:`CatalogListing` is sniffed only where needed: for a drop the table holds, only
    its new or changed entries when the driver can plan it
    (:mod:`~pixels_pipeline.spark.catalog_delta`), else all of them.
    """

    def plan(version: int, app_id: str | None) -> TableUpdate:
        listed = listing() if callable(listing) else listing
        held = sum(partition_row_counts(table_uri, drop_ids, options).values())
        changes = None
        if held and isinstance(listed, CatalogListing):
            changes = sniff_changed(listed, table_uri, drop_ids, version, options)
        if changes is not None:  # only new or changed entries were sniffed
            new, added, gone, removed = _from_diff(spark, changes.new_rows(spark), changes.diff)
        else:
            rows = listed.rows() if isinstance(listed, CatalogListing) else listed
            fresh = rows.localCheckpoint()
            if held == 0:
                commit = replace_partitions(
                    fresh,
                    table_uri,
                    "object_catalog",
                    drop_ids=drop_ids,
                    app_id=app_id,
                    options=options,
                    read_version=version,
                )
                return TableUpdate(commit, fresh.count(), 0, 0)
            diff = _listing_diff(fresh, table_uri, drop_ids, version, options)
            if diff is None:
                new, added, gone, removed = _spark_listing_diff(
                    spark, fresh, table_uri, drop_ids, version, options
                )
            else:
                picked = rows_with_keys(fresh, diff.todo)
                new, added, gone, removed = _from_diff(spark, picked, diff)
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
            read_version=version,
        )
        return TableUpdate(commit, added, kept, removed)

    return _planned(
        plan, table_uri, app_id, options, attempts=PLAN_ATTEMPTS if callable(listing) else 1
    )


def _from_diff(
    spark: SparkSession, new: DataFrame, diff: KeyDiff
) -> tuple[DataFrame, int, DataFrame | None, int]:
    """The new rows (``new``: the rows whose key ``diff`` adds) and their number, the keys
    whose rows go and the number of those rows, as planned by ``diff``."""
    gone = key_frame(spark, diff.gone) if diff.gone.num_rows else None
    return new, diff.todo.num_rows, gone, diff.removed


def _listing_diff(
    fresh: DataFrame,
    table_uri: str,
    drop_ids: Sequence[str],
    version: int,
    options: StorageOptions | None,
) -> KeyDiff | None:
    """The catalog's plan on the driver: the new listing's keys (one small job on the
    checkpointed listing) against the table's (delta-rs). None when either is too big,
    or a folder could not be listed (its files' rows are kept: :func:`_outside_unlisted`)."""
    held = small_partitions(
        table_uri, drop_ids, [*KEYS, "error_type"], options, version=version, max_rows=DIFF_MAX_ROWS
    )
    if held is None:
        return None
    listed = fresh.select(*KEYS, "error_message").limit(DIFF_MAX_ROWS + 1).toArrow()
    if listed.num_rows > DIFF_MAX_ROWS:
        return None
    messages = pc.fill_null(listed.column("error_message"), "")
    if pc.any(pc.match_substring(messages, UNLISTED_FOLDER)).as_py():
        return None
    return diff_keys(held, listed)


def _spark_listing_diff(
    spark: SparkSession,
    fresh: DataFrame,
    table_uri: str,
    drop_ids: Sequence[str],
    version: int,
    options: StorageOptions | None,
) -> tuple[DataFrame, int, DataFrame | None, int]:
    """The catalog's plan as Spark jobs: the new rows and their number, the keys whose
    rows go and their number."""
    old_rows = read_table_uri(
        spark,
        table_uri,
        TABLES["object_catalog"],
        drop_ids=drop_ids,
        options=options,
        version=version,
    )
    keys = [PARTITION_COLUMN, *KEY]
    old = old_rows.select(*keys, "path")
    settled = old_rows.where(_settled()).select(*keys)
    new = fresh.join(settled, keys, "left_anti")
    missing = _outside_unlisted(old.join(fresh.select(*keys), keys, "left_anti"), fresh)
    retry = old_rows.where(~_settled()).select(*keys).join(fresh.select(*keys), keys, "left_semi")
    gone = missing.select(*keys).unionByName(retry).localCheckpoint()
    added, removed = new.count(), gone.count()
    return new, added, gone if removed else None, removed


def _outside_unlisted(rows: DataFrame, listing: DataFrame) -> DataFrame:
    """``rows`` (with ``path``) not below a folder that ``listing`` could not list."""
    folders = listing.where(col("error_message").contains(UNLISTED_FOLDER)).select(
        col(PARTITION_COLUMN).alias("_drop"), concat(col("path"), lit("/")).alias("_prefix")
    )
    below = (col(PARTITION_COLUMN) == col("_drop")) & col("path").startswith(col("_prefix"))
    return rows.join(folders, below, "left_anti")
