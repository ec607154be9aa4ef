"""The pipeline's stages as plain functions on Spark DataFrames and Delta tables.

Use it from a notebook, a Spark job or another orchestrator; the Dagster assets are one
user of this API. Importing it never imports dagster.

    from pixels_pipeline import api as px
    spark = px.get_spark()
    cat = px.catalog(spark, "/data/dicom/drop-001")
    px.write_table(cat, "/data/lake", "object_catalog", drop_ids=["drop-001"])
    px.register_tables(spark, "/data/lake")   # then: SELECT ... FROM pixels.object_catalog
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import PurePosixPath

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame, SparkSession

from pixels_pipeline.dicom.budget import PixelBudget
from pixels_pipeline.spark import maintenance
from pixels_pipeline.spark.catalog import CatalogListing, catalog_drops, listed_drops
from pixels_pipeline.spark.delta_reader import (
    DRIVER_READ_MAX_ROWS,
    partition_row_counts,
    read_partitions,
    read_table_uri,
    small_partitions,
    table_uri,
    table_version_of,
)
from pixels_pipeline.spark.delta_tables import DATABASE
from pixels_pipeline.spark.delta_tables import register_tables as _register_tables
from pixels_pipeline.spark.delta_writer import (
    CommitResult,
    TableChangedError,
    is_conflict,
    replace_partitions,
)
from pixels_pipeline.spark.gold import GoldTable, GoldUpdate, update_gold
from pixels_pipeline.spark.gold_driver import DRIVER_MAX_ROWS
from pixels_pipeline.spark.images import (
    PatchSettings,
    cut_patches,
    patch_rows,
    render_thumbnails,
    thumbnail_rows,
)
from pixels_pipeline.spark.incremental import TableUpdate, refresh_catalog, update_partitions
from pixels_pipeline.spark.maintenance import MIN_RETENTION_HOURS, MaintenanceResult
from pixels_pipeline.spark.mapped import MappedRows, Rows
from pixels_pipeline.spark.metadata import extract_metadata, metadata_rows
from pixels_pipeline.spark.schemas import TABLES
from pixels_pipeline.spark.session import SparkSettings, get_spark
from pixels_pipeline.spark.unchanged import catalog_unchanged
from pixels_pipeline.storage.archives import ArchiveLimits
from pixels_pipeline.storage.landing import (
    Drop,
    DropListing,
    InvalidDropIdError,
    check_drop_ids,
    list_drops,
)
from pixels_pipeline.storage.uri import StorageOptions, normalize_uri

__all__ = [
    "DATABASE",
    "MIN_RETENTION_HOURS",
    "TABLES",
    "ArchiveLimits",
    "CommitResult",
    "Drop",
    "DropListing",
    "GoldTable",
    "GoldUpdate",
    "InvalidDropIdError",
    "MaintenanceResult",
    "MappedRows",
    "PatchSettings",
    "PixelBudget",
    "Rows",
    "SparkSettings",
    "StorageOptions",
    "TableChangedError",
    "TableUpdate",
    "catalog",
    "catalog_drops",
    "check_drop_ids",
    "count_rows",
    "cut_patches",
    "extract_metadata",
    "get_spark",
    "history",
    "is_conflict",
    "list_drops",
    "maintain_table",
    "metadata_rows",
    "patch_rows",
    "read_changes",
    "read_drops",
    "read_table",
    "register_tables",
    "render_thumbnails",
    "small_table_rows",
    "table_uri",
    "table_version",
    "thumbnail_rows",
    "update_catalog",
    "update_gold_table",
    "update_table",
    "write_table",
]


def catalog(
    spark: SparkSession,
    location: str,
    *,
    drop_id: str | None = None,
    options: StorageOptions | None = None,
) -> DataFrame:
    """Catalog every file below ``location`` (a folder or ``s3://`` prefix) as one drop.

    ``drop_id`` defaults to the folder's name.
    """
    uri = normalize_uri(location)
    name = drop_id or PurePosixPath(uri.rstrip("/")).name
    return catalog_drops(spark, [Drop(name, uri, None)], options=options)


def _uri(lake: str, table: str) -> str:
    return table_uri(normalize_uri(lake), table)


def write_table(
    rows: Rows,
    lake: str,
    table: str,
    *,
    drop_ids: Sequence[str],
    app_id: str | None = None,
    options: StorageOptions | None = None,
) -> CommitResult:
    """Replace the partitions ``drop_ids`` of ``<lake>/<table>`` with ``rows`` in one Delta
    commit (``replaceWhere``). ``rows``: a DataFrame, or the ``*_rows`` functions' output."""
    check_drop_ids(drop_ids)
    return replace_partitions(
        rows, _uri(lake, table), table, drop_ids=drop_ids, app_id=app_id, options=options
    )


def read_table(
    spark: SparkSession,
    lake: str,
    table: str,
    *,
    drop_ids: Sequence[str] | None = None,
    version: int | None = None,
    options: StorageOptions | None = None,
) -> DataFrame:
    """``<lake>/<table>`` (optionally some drops, optionally as of an older ``version``)."""
    return read_table_uri(
        spark, _uri(lake, table), TABLES[table], drop_ids=drop_ids, options=options, version=version
    )


def read_drops(
    spark: SparkSession,
    lake: str,
    table: str,
    drop_ids: Sequence[str],
    *,
    options: StorageOptions | None = None,
) -> DataFrame:
    """The drops' rows of ``<lake>/<table>`` as the assets read their input: a few rows
    (see ``read_partitions``) are read on the driver and handed to Spark as local data,
    without the Delta scan's own jobs; more are read by a Delta scan."""
    frame, _ = read_partitions(spark, _uri(lake, table), TABLES[table], drop_ids, options)
    return frame


def read_changes(
    spark: SparkSession,
    lake: str,
    table: str,
    *,
    starting_version: int,
    options: StorageOptions | None = None,
) -> DataFrame:
    """Change Data Feed of a silver table since ``starting_version``."""
    return maintenance.changes(
        spark, _uri(lake, table), starting_version=starting_version, options=options
    )


def history(
    spark: SparkSession, lake: str, table: str, *, options: StorageOptions | None = None
) -> DataFrame:
    """``DESCRIBE HISTORY`` of ``<lake>/<table>``: one row per commit, newest first."""
    return maintenance.history(spark, _uri(lake, table), options=options)


def maintain_table(
    spark: SparkSession,
    lake: str,
    table: str,
    *,
    retention_hours: int = 168,
    allow_short_retention: bool = False,
    options: StorageOptions | None = None,
) -> MaintenanceResult:
    """``OPTIMIZE ... ZORDER BY`` then ``VACUUM`` (at least 24 h retention by default)."""
    return maintenance.optimize_and_vacuum(
        spark,
        _uri(lake, table),
        table,
        retention_hours=retention_hours,
        allow_short_retention=allow_short_retention,
        options=options,
    )


def count_rows(
    lake: str, table: str, drop_ids: Sequence[str], *, options: StorageOptions | None = None
) -> dict[str, int]:
    """Rows per partition, from the Delta log alone (no data files read)."""
    return partition_row_counts(_uri(lake, table), drop_ids, options)


def small_table_rows(
    lake: str,
    table: str,
    drop_ids: Sequence[str],
    columns: Sequence[str],
    *,
    options: StorageOptions | None = None,
    max_rows: int = DRIVER_READ_MAX_ROWS,
    row_filter: pc.Expression | None = None,
) -> pa.Table | None:
    """``columns`` of the drops' rows (those ``row_filter`` keeps, if given) read on the
    driver (delta-rs, no Spark job) when the drops hold few rows (at most ``max_rows``),
    else None: read them with Spark."""
    return small_partitions(
        _uri(lake, table), drop_ids, columns, options, max_rows=max_rows, row_filter=row_filter
    )


def table_version(lake: str, table: str, *, options: StorageOptions | None = None) -> int:
    """The table's current version (-1 before its first commit)."""
    return table_version_of(_uri(lake, table), options)


def register_tables(
    spark: SparkSession,
    lake: str,
    *,
    tables: Sequence[str] | None = None,
    database: str = DATABASE,
    options: StorageOptions | None = None,
) -> list[str]:
    """Register the lake's tables in Spark's catalog as ``pixels.<table>`` (``USING DELTA
    LOCATION``), so SQL can name them. Returns the registered names."""
    return _register_tables(
        spark, normalize_uri(lake), tables=tables, database=database, options=options
    )


def update_catalog(
    spark: SparkSession,
    lake: str,
    drops: Sequence[Drop],
    *,
    options: StorageOptions | None = None,
    hash_content: bool = False,
    archive_limits: ArchiveLimits | None = None,
    app_id: str | None = None,
) -> TableUpdate:
    """List the drops again and commit their ``object_catalog`` rows only if any file was
    added, changed (fingerprint) or deleted (listed once more if another run committed to
    these drops meanwhile)."""
    check_drop_ids([d.drop_id for d in drops])
    catalog_uri = _uri(lake, "object_catalog")
    if not hash_content and catalog_unchanged(catalog_uri, drops, options):
        held = partition_row_counts(catalog_uri, [d.drop_id for d in drops], options)
        return TableUpdate(None, 0, sum(held.values()), 0)

    def listing() -> CatalogListing:
        return listed_drops(
            spark, drops, options=options, hash_content=hash_content, archive_limits=archive_limits
        )

    return refresh_catalog(
        spark,
        _uri(lake, "object_catalog"),
        listing,
        drop_ids=[d.drop_id for d in drops],
        app_id=app_id,
        options=options,
    )


IMAGE_TABLES = frozenset({"thumbnails", "patches"})  # rows for DICOM files only


def update_table(
    spark: SparkSession,
    lake: str,
    table: str,
    build: Callable[[DataFrame, int], Rows],
    *,
    drop_ids: Sequence[str],
    options: StorageOptions | None = None,
    app_id: str | None = None,
) -> TableUpdate:
    """Bring a downstream table's ``drop_ids`` partitions in line with the catalog:
    ``build(catalog_rows, n)`` runs only on added or changed files, rows of deleted files
    go, the rest is kept; one commit (partition overwrite or MERGE), or none."""
    check_drop_ids(drop_ids)
    catalog, catalog_rows = read_partitions(
        spark, _uri(lake, "object_catalog"), TABLES["object_catalog"], drop_ids, options
    )
    return update_partitions(
        spark,
        _uri(lake, table),
        table,
        catalog,
        build,
        drop_ids=drop_ids,
        app_id=app_id,
        options=options,
        catalog_uri=_uri(lake, "object_catalog"),
        catalog_rows=catalog_rows,
        dicom_only=table in IMAGE_TABLES,
    )


def update_gold_table(
    spark: SparkSession,
    lake: str,
    table: GoldTable,
    *,
    options: StorageOptions | None = None,
    driver_max_rows: int = DRIVER_MAX_ROWS,
) -> GoldUpdate:
    """Bring the gold table ``series`` or ``studies`` (one row per UID, all drops) in line
    with ``metadata``: one ``MERGE`` over the UIDs that metadata's Change Data Feed shows
    touched since the last update (all UIDs the first time, or when that window was
    vacuumed), none when nothing changed. Safe to retry and to run for any drop.
    Updates reading at most ``driver_max_rows`` metadata rows are computed on the driver
    from the Delta log and files (0: always Spark jobs)."""
    return update_gold(
        spark, normalize_uri(lake), table, options=options, driver_max_rows=driver_max_rows
    )
