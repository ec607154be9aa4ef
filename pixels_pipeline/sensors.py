"""The landing-zone sensor: new and changed complete drops become partitions and runs.

Drops that arrive in the same tick run together: the new ones are added as partitions in
one request, so they sit next to each other in the partition order, and one run covers
their range (one Spark session, one commit per table, instead of one run each). A drop
already known (changed since its last run, or added by hand) gets a run of its own.
"""

import hashlib
from collections.abc import Sequence

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from pixels_pipeline.jobs import ingest_job
from pixels_pipeline.partitions import DROPS, drops_partitions
from pixels_pipeline.resources import LakeResource
from pixels_pipeline.storage.drop_tracker import DropRun, plan_tick
from pixels_pipeline.storage.landing import DROP_ID_PATTERN

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
MAX_DROPS_PER_RUN = 50  # a tick's new drops are run in batches of at most this many


@sensor(
    job=ingest_job,
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Adds each complete drop (folder with _SUCCESS) as a partition and runs it; "
        "drops arriving in one tick run together; re-runs a drop whose folder or "
        "_SUCCESS marker changed."
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
    if not plan.runs:
        return SensorResult(skip_reason="no new or changed complete drops", cursor=plan.cursor)
    known = set(context.instance.get_dynamic_partitions(DROPS))
    new = [r for r in plan.runs if r.is_new and r.drop_id not in known]
    alone = [r for r in plan.runs if not (r.is_new and r.drop_id not in known)]
    requests = [RunRequest(partition_key=r.drop_id, run_key=r.run_key) for r in alone]
    for start in range(0, len(new), MAX_DROPS_PER_RUN):
        requests.append(batch_request(new[start : start + MAX_DROPS_PER_RUN]))
    return SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=(
            [drops_partitions.build_add_request([r.drop_id for r in new])] if new else []
        ),
        cursor=plan.cursor,
    )


def batch_request(runs: Sequence[DropRun]) -> RunRequest:
    """One run for drops added together: a single partition, or their range."""
    if len(runs) == 1:
        return RunRequest(partition_key=runs[0].drop_id, run_key=runs[0].run_key)
    key = hashlib.sha256("\n".join(r.run_key for r in runs).encode()).hexdigest()[:24]
    return RunRequest(
        run_key=f"batch:{key}",
        tags={RANGE_START_TAG: runs[0].drop_id, RANGE_END_TAG: runs[-1].drop_id},
    )


def requested_drops(request: RunRequest, order: Sequence[str]) -> list[str]:
    """The drops a run request of this sensor covers, given the partition order."""
    if request.partition_key is not None:
        return [request.partition_key]
    start, end = request.tags[RANGE_START_TAG], request.tags[RANGE_END_TAG]
    return list(order[order.index(start) : order.index(end) + 1])
