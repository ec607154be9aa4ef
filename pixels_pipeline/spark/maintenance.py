"""Table maintenance with Delta's own commands: OPTIMIZE ... ZORDER BY, VACUUM, history."""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession

from pixels_pipeline.spark.delta_tables import path_identifier
from pixels_pipeline.spark.object_store import spark_path, use_object_store
from pixels_pipeline.spark.scoped_conf import scoped_confs
from pixels_pipeline.storage.uri import StorageOptions

__all__ = [
    "MIN_RETENTION_HOURS",
    "ZORDER",
    "MaintenanceResult",
    "RetentionTooShortError",
    "changes",
    "history",
    "optimize_and_vacuum",
]

MIN_RETENTION_HOURS = 24
_VACUUM_LOGGING = "spark.databricks.delta.vacuum.logging.enabled"
_RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"
_RECENT = 10  # commits searched for this VACUUM's END
# Columns each table is clustered by: what its readers filter on.
ZORDER: dict[str, tuple[str, ...]] = {
    "object_catalog": ("row_id",),
    "metadata": ("study_instance_uid", "series_instance_uid"),
    "thumbnails": ("sop_instance_uid",),
    "patches": ("row_id", "frame_index"),
    "series": ("study_instance_uid", "modality"),
    "studies": ("study_date",),
}


class RetentionTooShortError(ValueError):
    """VACUUM below the lower bound would break readers of recent versions."""


@dataclass(frozen=True)
class MaintenanceResult:
    """What OPTIMIZE and VACUUM did to one table."""

    files_added: int  # by OPTIMIZE
    files_removed: int  # by OPTIMIZE (still on disk until vacuumed)
    files_deleted: int  # by VACUUM
    version: int  # table version after both


def optimize_and_vacuum(
    spark: SparkSession,
    table_uri: str,
    table: str,
    *,
    retention_hours: int,
    allow_short_retention: bool = False,
    options: StorageOptions | None = None,
) -> MaintenanceResult:
    """Cluster small files into large ones ordered by the table's Z-order columns, then
    delete files no version younger than ``retention_hours`` needs (orphans of killed
    writers included). ``retention_hours`` below 24 needs ``allow_short_retention``."""
    if retention_hours < MIN_RETENTION_HOURS and not allow_short_retention:
        raise RetentionTooShortError(
            f"retention_hours={retention_hours} is below {MIN_RETENTION_HOURS}: running "
            "queries and time travel could lose files; pass allow_short_retention to force"
        )
    use_object_store(spark, options)
    target = path_identifier(table_uri)
    zorder = ", ".join(ZORDER.get(table, ()))
    metrics = spark.sql(f"OPTIMIZE {target}" + (f" ZORDER BY ({zorder})" if zorder else ""))
    row = metrics.select("metrics.numFilesAdded", "metrics.numFilesRemoved").first()
    # VACUUM lists every file of the table. Logging it (VACUUM START / VACUUM END commits,
    # on by default on some stores only) records what it deleted, so no DRY RUN listing
    # is needed to count, and the history shows each VACUUM.
    confs = {_VACUUM_LOGGING: "true"}
    if allow_short_retention:
        confs[_RETENTION_CHECK] = "false"
    with scoped_confs(spark, confs) as session:
        session.sql(f"VACUUM {target} RETAIN {int(retention_hours)} HOURS").collect()
    # The newest VACUUM END is ours (an ingest may have committed after it meanwhile).
    recent = history(spark, table_uri, limit=_RECENT).select(
        "version", "operation", "operationMetrics"
    )
    commits = recent.collect()
    ended = next((c for c in commits if c["operation"] == "VACUUM END"), None)
    vacuumed: dict[str, str] = (ended["operationMetrics"] or {}) if ended else {}
    return MaintenanceResult(
        files_added=int(row[0]) if row else 0,
        files_removed=int(row[1]) if row else 0,
        files_deleted=int(vacuumed.get("numDeletedFiles", 0)),
        version=int(commits[0]["version"]) if commits else -1,
    )


def history(
    spark: SparkSession,
    table_uri: str,
    *,
    limit: int | None = None,
    options: StorageOptions | None = None,
) -> DataFrame:
    """``DESCRIBE HISTORY``: one row per commit, newest first."""
    use_object_store(spark, options)
    suffix = f" LIMIT {int(limit)}" if limit is not None else ""
    return spark.sql(f"DESCRIBE HISTORY {path_identifier(table_uri)}{suffix}")


def changes(
    spark: SparkSession,
    table_uri: str,
    *,
    starting_version: int,
    ending_version: int | None = None,
    options: StorageOptions | None = None,
) -> DataFrame:
    """The Change Data Feed of a silver table: rows inserted, deleted (and updated) from
    ``starting_version`` on, with ``_change_type``, ``_commit_version``, ``_commit_timestamp``."""
    use_object_store(spark, options)
    reader = (
        spark.read.format("delta")
        .option("readChangeFeed", "true")
        .option("startingVersion", starting_version)
    )
    if ending_version is not None:
        reader = reader.option("endingVersion", ending_version)
    return reader.load(spark_path(table_uri))
