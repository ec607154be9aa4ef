"""The landing-zone sensor: each new complete drop becomes a partition and a run."""

import json

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from pixels_pipeline.jobs import ingest_job
from pixels_pipeline.partitions import drops_partitions
from pixels_pipeline.resources import LakeResource
from pixels_pipeline.storage.landing import list_drops


def decode_cursor(cursor: str | None) -> dict[str, str]:
    """The cursor maps each ingested drop id to its ``_SUCCESS`` modification time."""
    return dict(json.loads(cursor)) if cursor else {}


@sensor(
    job=ingest_job,
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description="Adds each complete drop (folder with _SUCCESS) as a partition and runs it.",
)
def landing_sensor(
    context: SensorEvaluationContext, lake: LakeResource
) -> SensorResult | SkipReason:
    seen = decode_cursor(context.cursor)
    listing = list_drops(lake.landing_uri(), options=lake.storage_options(), skip=frozenset(seen))
    for name in listing.rejected:
        context.log.warning(f"ignoring folder with an invalid drop id: {name!r}")
    if listing.incomplete:
        context.log.info(f"{len(listing.incomplete)} drop(s) still without _SUCCESS")
    new = [d for d in listing.complete if d.drop_id not in seen]
    if not new:
        return SkipReason("no new complete drops")
    keys = [d.drop_id for d in new]
    for drop in new:
        seen[drop.drop_id] = drop.success_mtime.isoformat() if drop.success_mtime else ""
    return SensorResult(
        run_requests=[RunRequest(partition_key=k, run_key=k) for k in keys],
        dynamic_partitions_requests=[drops_partitions.build_add_request(keys)],
        cursor=json.dumps(seen, sort_keys=True),
    )
