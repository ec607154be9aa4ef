"""Delta table definitions: DDL with column comments, table properties, catalog names.

Every table is created by Spark SQL (``CREATE TABLE ... USING DELTA``) at
``<lake>/<table>``, partitioned by ``drop_id`` (gold tables, keyed by UID, are not
partitioned), and registered in Spark's catalog as
``pixels.<table>`` so that ``spark.sql("SELECT ... FROM pixels.metadata")`` works.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Mapping, Sequence

import pyarrow as pa
from deltalake import DeltaTable as LogReader
from pyspark.sql import SparkSession

from pixels_pipeline.spark.object_store import spark_path
from pixels_pipeline.spark.schemas import GOLD_KEYS, PARTITION_COLUMN, TABLES, spark_schema
from pixels_pipeline.storage.uri import StorageOptions, join_uri

__all__ = [
    "DATABASE",
    "GOLD_TABLES",
    "ensure_table",
    "properties_for",
    "qualified_name",
    "register_tables",
    "sql_string",
    "table_exists",
]

DATABASE = "pixels"
_CREATE_ATTEMPTS = 6
# Names this process registered, per session, with their locations: checking a listed
# name's location again (DESCRIBE DETAIL) recomputes the table's snapshot, which costs
# seconds right after a commit.
_REGISTERED: weakref.WeakKeyDictionary[SparkSession, dict[str, str]] = weakref.WeakKeyDictionary()
SILVER_TABLES = ("metadata", "thumbnails", "patches")
GOLD_TABLES = tuple(GOLD_KEYS)
# Big values whose min/max statistics would only cost time: never used to skip files.
_NO_STATS = {"meta", "settings", "thumbnail_png", "data", "shape", "path_tags", "error_message"}
# Commit-time properties every table carries. Deletion vectors stay off: delta-rs' pyarrow
# scanner and polars cannot read tables that use them. A one-day file retention lets
# VACUUM keep as little as the pipeline's 24 h lower bound without disabling Delta's check.
_COMMON_PROPERTIES = {
    "delta.enableDeletionVectors": "false",
    "delta.deletedFileRetentionDuration": "interval 1 days",
}


def sql_string(value: str) -> str:
    """A single-quoted SQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def path_identifier(uri: str) -> str:
    """``delta.`<path>``` : a table addressed by location."""
    return "delta.`" + spark_path(uri).replace("`", "``") + "`"


def qualified_name(table: str, database: str = DATABASE) -> str:
    return f"{database}.{table}"


def properties_for(table: str, schema: pa.Schema) -> dict[str, str]:
    """Table properties: common ones, statistics columns, Change Data Feed on silver and
    gold tables (gold tables read metadata's; their own serves downstream readers)."""
    stats = [
        f.name
        for f in schema
        if f.name not in _NO_STATS and f.name != PARTITION_COLUMN and _has_min_max(f.type)
    ]
    props = {**_COMMON_PROPERTIES, "delta.dataSkippingStatsColumns": ",".join(stats)}
    if table in SILVER_TABLES or table in GOLD_TABLES:
        props["delta.enableChangeDataFeed"] = "true"
    return props


def _has_min_max(dtype: pa.DataType) -> bool:
    """Types Delta keeps min/max statistics of (not booleans, bytes or lists)."""
    return bool(
        pa.types.is_string(dtype)
        or pa.types.is_integer(dtype)
        or pa.types.is_floating(dtype)
        or pa.types.is_date(dtype)
        or pa.types.is_timestamp(dtype)
    )


def _columns_ddl(schema: pa.Schema) -> str:
    comments = {f.name: (f.metadata or {}).get(b"comment", b"").decode() for f in schema}
    return ", ".join(
        f"`{f.name}` {f.dataType.simpleString()} COMMENT {sql_string(comments[f.name])}"
        for f in spark_schema(schema).fields
    )


def _properties_ddl(props: Mapping[str, str]) -> str:
    return ", ".join(f"{sql_string(k)} = {sql_string(v)}" for k, v in props.items())


def table_exists(uri: str, options: StorageOptions | None = None) -> bool:
    """Whether a Delta log exists at ``uri`` (read by delta-rs on the driver: no Spark job)."""
    return bool(LogReader.is_deltatable(uri, storage_options=_log_options(options)))


def _log_options(options: StorageOptions | None) -> dict[str, str]:
    return (options or StorageOptions()).delta_options()


def ensure_table(
    spark: SparkSession, uri: str, table: str, options: StorageOptions | None = None
) -> None:
    """Create the table if missing; give an existing one (e.g. written by an older
    version of the pipeline) the properties it lacks, in one ``ALTER TABLE``."""
    schema = TABLES[table]
    wanted = properties_for(table, schema)
    for attempt in range(_CREATE_ATTEMPTS):
        if table_exists(uri, options):
            break
        try:
            partitioning = "" if table in GOLD_TABLES else f"PARTITIONED BY ({PARTITION_COLUMN}) "
            spark.sql(
                f"CREATE TABLE IF NOT EXISTS {path_identifier(uri)} ({_columns_ddl(schema)}) "
                f"USING DELTA {partitioning}"
                f"TBLPROPERTIES ({_properties_ddl(wanted)})"
            )
            return
        except Exception:
            # Another run creating the same table at once: its log appears in a moment
            # (Delta refuses a location that is no longer empty). Anything else persists.
            if attempt == _CREATE_ATTEMPTS - 1:
                raise
            time.sleep(0.5 * (attempt + 1))
    current = LogReader(uri, storage_options=_log_options(options)).metadata().configuration
    missing = {k: v for k, v in wanted.items() if current.get(k) != v}
    if missing:
        spark.sql(
            f"ALTER TABLE {path_identifier(uri)} SET TBLPROPERTIES ({_properties_ddl(missing)})"
        )


def register_tables(
    spark: SparkSession,
    lake_uri: str,
    *,
    tables: Sequence[str] | None = None,
    database: str = DATABASE,
    options: StorageOptions | None = None,
) -> list[str]:
    """Register the lake's existing tables as ``<database>.<table>`` (external tables,
    ``USING DELTA LOCATION``); a name pointing at another lake is re-pointed."""
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {database}")
    listed = {r["tableName"] for r in spark.sql(f"SHOW TABLES IN {database}").collect()}
    names = []
    for table in tables if tables is not None else list(TABLES):
        uri = join_uri(lake_uri, table)
        if not table_exists(uri, options):
            continue
        name = qualified_name(table, database)
        location = spark_path(uri)
        known = _REGISTERED.setdefault(spark, {})
        if table in listed and known.get(name) == location:
            names.append(name)
            continue
        if table in listed:
            try:
                described = spark.sql(f"DESCRIBE DETAIL {name}").select("location").first()
            except Exception:  # its old location is gone or unreachable
                described = None
            if described is not None and _same_location(described[0], location):
                known[name] = location
                names.append(name)
                continue
            spark.sql(f"DROP TABLE IF EXISTS {name}")  # external: only the name goes
        spark.sql(f"CREATE TABLE IF NOT EXISTS {name} USING DELTA LOCATION {sql_string(location)}")
        known[name] = location
        names.append(name)
    return names


def _same_location(described: str, location: str) -> bool:
    strip = "file:"
    a = described[len(strip) :] if described.startswith(strip) else described
    return a.rstrip("/") == location.rstrip("/")
