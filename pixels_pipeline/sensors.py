"""The landing-zone sensor: new and changed complete drops become partitions and runs."""

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from pixels_pipeline.jobs import ingest_job
from pixels_pipeline.partitions import drops_partitions
from pixels_pipeline.resources import LakeResource
from pixels_pipeline.storage.drop_tracker import plan_tick
from pixels_pipeline.storage.landing import DROP_ID_PATTERN


@sensor(
    job=ingest_job,
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Adds each complete drop (folder with _SUCCESS) as a partition and runs it; "
        "re-runs a drop whose folder or _SUCCESS marker changed."
    ),
)
def landing_sensor(context: SensorEvaluationContext, lake: LakeResource) -> SensorResult:
    plan = plan_tick(lake.landing_uri(), context.cursor, options=lake.storage_options())
    if plan.rejected:
        # Counts only: folder names can carry patient names, and logs must not.
        context.log.warning(
            f"ignoring {len(plan.rejected)} folder(s) whose names are not valid drop ids "
            f"({DROP_ID_PATTERN.pattern})"
        )
    if plan.incomplete:
        context.log.info(f"{len(plan.incomplete)} drop(s) still without _SUCCESS")
    new = [r.drop_id for r in plan.runs if r.is_new]
    if not plan.runs:
        return SensorResult(skip_reason="no new or changed complete drops", cursor=plan.cursor)
    return SensorResult(
        run_requests=[RunRequest(partition_key=r.drop_id, run_key=r.run_key) for r in plan.runs],
        dynamic_partitions_requests=[drops_partitions.build_add_request(new)] if new else [],
        cursor=plan.cursor,
    )
