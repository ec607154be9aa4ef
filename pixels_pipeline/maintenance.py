"""Table maintenance: a job and a nightly schedule that cluster and vacuum every table."""

from dataclasses import dataclass

from dagster import (
    Config,
    DefaultScheduleStatus,
    Failure,
    In,
    MetadataValue,
    OpDefinition,
    OpExecutionContext,
    ScheduleDefinition,
    job,
    op,
)
from pydantic import Field
from pyspark.sql import SparkSession

from pixels_pipeline import api
from pixels_pipeline.partitions import lake_write_pool
from pixels_pipeline.resources import LakeResource, SparkResource


@dataclass(frozen=True)
class Retention:
    """The checked settings every table's step receives."""

    hours: int
    allow_short: bool


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


@op(
    description="Check the maintenance settings (a retention under 24 h must be allowed "
    "explicitly) before any table is touched."
)
def maintenance_settings(config: MaintenanceConfig) -> Retention:
    if config.retention_hours < api.MIN_RETENTION_HOURS and not config.allow_short_retention:
        raise Failure(
            description=f"retention_hours={config.retention_hours} is below "
            f"{api.MIN_RETENTION_HOURS}; set allow_short_retention to force it"
        )
    return Retention(config.retention_hours, config.allow_short_retention)


ABSENT = "absent"  # the table was not written yet: nothing to maintain


def _table_op(table: str) -> OpDefinition:
    """OPTIMIZE and VACUUM of ``table`` in the table's lake-write pool: it never commits
    while an ingest step of another run writes the same table (Delta's S3 log store is
    safe for one writer per table). Outputs ``ok``, ``absent`` or the error's type."""

    @op(
        name=f"maintain_{table}",
        description=f"OPTIMIZE ... ZORDER BY and VACUUM of {table}.",
        pool=lake_write_pool(table),
    )
    def maintain(
        context: OpExecutionContext,
        settings: Retention,
        spark: SparkResource,
        lake: LakeResource,
    ) -> str:
        options = lake.storage_options()
        if api.table_version(lake.lake_uri(), table, options=options) < 0:
            return ABSENT
        return _maintain(context, settings, spark.get_session(), lake.lake_uri(), table, options)

    return maintain


TABLE_OPS = {table: _table_op(table) for table in api.TABLES}


@op(
    description="Report every table's maintenance; fail if any table failed.",
    ins={table: In(str) for table in api.TABLES},
)
def maintenance_report(**outcomes: str) -> None:
    report = {table: outcome for table, outcome in outcomes.items() if outcome != ABSENT}
    failed = [t for t, outcome in report.items() if outcome != "ok"]
    if failed:
        raise Failure(
            description=f"maintenance failed for {', '.join(failed)}",
            metadata={"tables": MetadataValue.json(report)},
        )


def _maintain(
    context: OpExecutionContext,
    settings: Retention,
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
                retention_hours=settings.hours,
                allow_short_retention=settings.allow_short,
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


@job(
    description="OPTIMIZE (Z-ordered) and VACUUM of all tables: one step per table, each "
    "in its table's lake-write pool; a table that fails does not stop the others."
)
def maintenance_job() -> None:
    settings = maintenance_settings()
    maintenance_report(**{table: step(settings) for table, step in TABLE_OPS.items()})


maintenance_schedule = ScheduleDefinition(
    job=maintenance_job,
    cron_schedule="0 3 * * *",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Nightly OPTIMIZE and VACUUM.",
)
