"""Table maintenance: a job and a nightly schedule that cluster and vacuum every table."""

from dagster import (
    Config,
    DefaultScheduleStatus,
    Failure,
    OpExecutionContext,
    ScheduleDefinition,
    job,
    op,
)
from pydantic import Field

from pixels_pipeline import api
from pixels_pipeline.resources import LakeResource, SparkResource


class MaintenanceConfig(Config):  # type: ignore[misc]
    retention_hours: int = Field(
        default=168,
        ge=0,
        description="keep time travel (and unreferenced files) this long; at least 24 "
        "unless allow_short_retention",
    )
    allow_short_retention: bool = Field(
        default=False, description="permit retention_hours below 24 (breaks older readers)"
    )


@op(description="OPTIMIZE ... ZORDER BY and VACUUM every table of the lake.")
def optimize_and_vacuum_tables(
    context: OpExecutionContext, config: MaintenanceConfig, spark: SparkResource, lake: LakeResource
) -> None:
    if config.retention_hours < api.MIN_RETENTION_HOURS and not config.allow_short_retention:
        raise Failure(
            description=f"retention_hours={config.retention_hours} is below "
            f"{api.MIN_RETENTION_HOURS}; set allow_short_retention to force it"
        )
    options = lake.storage_options()
    session = spark.get_session()
    failed: list[str] = []
    for table in api.TABLES:
        if api.table_version(lake.lake_uri(), table, options=options) < 0:
            continue
        try:
            result = api.maintain_table(
                session,
                lake.lake_uri(),
                table,
                retention_hours=config.retention_hours,
                allow_short_retention=config.allow_short_retention,
                options=options,
            )
        except Exception as error:  # e.g. a conflict with an ingest: go on with the others
            failed.append(table)
            context.log.warning(f"{table}: maintenance failed: {type(error).__name__}")
            continue
        context.log.info(
            f"{table}: OPTIMIZE added {result.files_added} and removed {result.files_removed} "
            f"data files, VACUUM deleted {result.files_deleted}, version {result.version}"
        )
    if failed:
        raise Failure(description=f"maintenance failed for {', '.join(failed)}")


@job(description="OPTIMIZE (Z-ordered) and VACUUM of all tables.")
def maintenance_job() -> None:
    optimize_and_vacuum_tables()


maintenance_schedule = ScheduleDefinition(
    job=maintenance_job,
    cron_schedule="0 3 * * *",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Nightly OPTIMIZE and VACUUM.",
)
