"""Table maintenance: a job and a daily schedule that compact small files and vacuum."""

from dagster import (
    Config,
    DefaultScheduleStatus,
    OpExecutionContext,
    ScheduleDefinition,
    job,
    op,
)
from pydantic import Field

from pixels_pipeline import api
from pixels_pipeline.resources import LakeResource
from pixels_pipeline.spark.delta_writer import compact_and_vacuum


class MaintenanceConfig(Config):  # type: ignore[misc]
    retention_hours: int = Field(
        default=168, description="keep time travel (and unreferenced files) this long"
    )
    target_file_mb: int = Field(default=128, description="compaction target file size")


@op(description="Compact small data files and vacuum every table of the lake.")
def compact_and_vacuum_tables(
    context: OpExecutionContext, config: MaintenanceConfig, lake: LakeResource
) -> None:
    options = lake.storage_options()
    for table in api.TABLES:
        uri = api.table_uri(lake.lake_uri(), table)
        if api.table_version(lake.lake_uri(), table, options=options) < 0:
            continue
        result = compact_and_vacuum(
            uri,
            retention_hours=config.retention_hours,
            target_file_bytes=config.target_file_mb * 1024 * 1024,
            options=options,
        )
        context.log.info(
            f"{table}: {result.files_before} -> {result.files_after} data files, "
            f"{result.files_deleted_by_vacuum} deleted by vacuum, version {result.version}"
        )


@job(description="Compaction and vacuum of all tables (no Spark needed).")
def maintenance_job() -> None:
    compact_and_vacuum_tables()


maintenance_schedule = ScheduleDefinition(
    job=maintenance_job,
    cron_schedule="0 3 * * *",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Nightly compaction and vacuum.",
)
