"""Table maintenance: a job and a nightly schedule that cluster and vacuum every table."""

from dagster import (
    Config,
    DefaultScheduleStatus,
    Failure,
    MetadataValue,
    OpExecutionContext,
    ScheduleDefinition,
    job,
    op,
)
from pydantic import Field
from pyspark.sql import SparkSession

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
    report: dict[str, str] = {}
    for table in api.TABLES:
        if api.table_version(lake.lake_uri(), table, options=options) < 0:
            continue
        report[table] = _maintain(context, config, session, lake.lake_uri(), table, options)
    failed = [t for t, outcome in report.items() if outcome != "ok"]
    if failed:
        raise Failure(
            description=f"maintenance failed for {', '.join(failed)}",
            metadata={"tables": MetadataValue.json(report)},
        )


def _maintain(
    context: OpExecutionContext,
    config: MaintenanceConfig,
    session: SparkSession,
    lake_uri: str,
    table: str,
    options: api.StorageOptions,
) -> str:
    """OPTIMIZE and VACUUM one table; a commit conflict with an ingest is tried once more.
    Returns ``ok`` or the error's type: one table's failure never stops the others."""
    for attempt in (1, 2):
        try:
            result = api.maintain_table(
                session,
                lake_uri,
                table,
                retention_hours=config.retention_hours,
                allow_short_retention=config.allow_short_retention,
                options=options,
            )
        except Exception as error:
            if attempt == 1 and api.is_conflict(error):
                context.log.warning(f"{table}: conflicted with a concurrent commit, retrying")
                continue
            context.log.warning(f"{table}: maintenance failed: {type(error).__name__}")
            return type(error).__name__
        context.log.info(
            f"{table}: OPTIMIZE added {result.files_added} and removed {result.files_removed} "
            f"data files, VACUUM deleted {result.files_deleted}, version {result.version}"
        )
        return "ok"
    raise AssertionError("unreachable")


@job(description="OPTIMIZE (Z-ordered) and VACUUM of all tables.")
def maintenance_job() -> None:
    optimize_and_vacuum_tables()


maintenance_schedule = ScheduleDefinition(
    job=maintenance_job,
    cron_schedule="0 3 * * *",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Nightly OPTIMIZE and VACUUM.",
)
