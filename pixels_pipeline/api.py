"""The pipeline's stages as plain functions on Spark DataFrames and Delta tables.

Use it from a notebook, a Spark job or another orchestrator; the Dagster assets are one
user of this API. Importing it never imports dagster.

    from pixels_pipeline import api as px
    spark = px.get_spark()
    cat = px.catalog(spark, "/data/dicom/drop-001")
    px.write_table(cat, "/data/lake", "object_catalog")
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import PurePosixPath

from pyspark.sql import DataFrame, SparkSession

from pixels_pipeline.spark.catalog import catalog_drops
from pixels_pipeline.spark.delta_reader import (
    open_table,
    partition_row_counts,
    read_table_uri,
    table_uri,
)
from pixels_pipeline.spark.delta_writer import CommitResult, write_partitions
from pixels_pipeline.spark.images import (
    PatchSettings,
    cut_patches,
    patch_rows,
    render_thumbnails,
    thumbnail_rows,
)
from pixels_pipeline.spark.incremental import TableUpdate, refresh_catalog, update_partitions
from pixels_pipeline.spark.mapped import MappedRows, Rows
from pixels_pipeline.spark.metadata import extract_metadata, metadata_rows
from pixels_pipeline.spark.schemas import TABLES
from pixels_pipeline.spark.session import SparkSettings, get_spark
from pixels_pipeline.storage.archives import ArchiveLimits
from pixels_pipeline.storage.landing import Drop, DropListing, list_drops
from pixels_pipeline.storage.uri import StorageOptions, normalize_uri

__all__ = [
    "TABLES",
    "ArchiveLimits",
    "CommitResult",
    "Drop",
    "DropListing",
    "MappedRows",
    "PatchSettings",
    "Rows",
    "SparkSettings",
    "StorageOptions",
    "TableUpdate",
    "catalog",
    "catalog_drops",
    "count_rows",
    "cut_patches",
    "extract_metadata",
    "get_spark",
    "list_drops",
    "metadata_rows",
    "patch_rows",
    "read_table",
    "register_views",
    "render_thumbnails",
    "table_uri",
    "table_version",
    "thumbnail_rows",
    "update_catalog",
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


def write_table(
    rows: Rows,
    lake: str,
    table: str,
    *,
    drop_ids: Sequence[str] | None = None,
    app_id: str | None = None,
    options: StorageOptions | None = None,
) -> CommitResult:
    """Replace the partitions ``drop_ids`` (default: those in ``rows``) of
    ``<lake>/<table>`` with ``rows``, in one Delta commit. ``rows``: a DataFrame, or the
    ``*_rows`` functions' output, computed and written in the same Python tasks."""
    uri = table_uri(normalize_uri(lake), table)
    return write_partitions(
        rows, uri, TABLES[table], drop_ids=drop_ids, app_id=app_id, options=options
    )


def read_table(
    spark: SparkSession,
    lake: str,
    table: str,
    *,
    drop_ids: Sequence[str] | None = None,
    options: StorageOptions | None = None,
) -> DataFrame:
    """The current version of ``<lake>/<table>`` (optionally some partitions)."""
    uri = table_uri(normalize_uri(lake), table)
    return read_table_uri(spark, uri, TABLES[table], drop_ids=drop_ids, options=options)


def count_rows(
    lake: str, table: str, drop_ids: Sequence[str], *, options: StorageOptions | None = None
) -> dict[str, int]:
    """Rows per partition, from the Delta log alone (no data files read)."""
    return partition_row_counts(table_uri(normalize_uri(lake), table), drop_ids, options)


def table_version(lake: str, table: str, *, options: StorageOptions | None = None) -> int:
    """The table's current version (-1 before its first commit)."""
    found = open_table(table_uri(normalize_uri(lake), table), options)
    return found.version() if found is not None else -1


def register_views(
    spark: SparkSession,
    lake: str,
    *,
    tables: Sequence[str] | None = None,
    options: StorageOptions | None = None,
) -> list[str]:
    """Register each table of the lake as a Spark SQL temp view named like the table."""
    names = list(tables) if tables is not None else list(TABLES)
    for name in names:
        read_table(spark, lake, name, options=options).createOrReplaceTempView(name)
    return names


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
    added, changed (fingerprint) or deleted."""
    listing = catalog_drops(
        spark, drops, options=options, hash_content=hash_content, archive_limits=archive_limits
    )
    uri = table_uri(normalize_uri(lake), "object_catalog")
    return refresh_catalog(
        spark, uri, listing, drop_ids=[d.drop_id for d in drops], app_id=app_id, options=options
    )


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
    go, the rest is kept; one commit, or none if nothing changed."""
    lake_uri = normalize_uri(lake)
    catalog = read_table(spark, lake_uri, "object_catalog", drop_ids=drop_ids, options=options)
    return update_partitions(
        spark,
        table_uri(lake_uri, table),
        TABLES[table],
        catalog,
        build,
        drop_ids=drop_ids,
        app_id=app_id,
        options=options,
    )
