"""One run of the ``ingest`` job in this process, with the job's own executor.

Dagster's ``materialize`` and ``execute_in_process`` replace a job's executor with the
serial in-process one; a run launched by the sensor, the UI or ``dagster job launch``
uses the job's (``executor.threaded_in_process_executor``). The benchmark measures what
users get, so it runs the job the way a launched run does, on a given instance and with
the given resources.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dagster import AssetKey, DagsterInstance, Definitions, JobDefinition
from dagster._core.definitions.job_base import InMemoryJob
from dagster._core.execution.execute_in_process import core_execute_in_process
from dagster._core.execution.execute_in_process_result import ExecuteInProcessResult

from pixels_pipeline.sensors import RANGE_END_TAG, RANGE_START_TAG

PARTITION_TAG = "dagster/partition"


def partition_tags(drop_ids: Sequence[str]) -> dict[str, str]:
    """The tags of a run over one drop, or over a range of drops (as the sensor's
    ``batch_request`` tags them)."""
    if len(drop_ids) == 1:
        return {PARTITION_TAG: drop_ids[0]}
    return {RANGE_START_TAG: drop_ids[0], RANGE_END_TAG: drop_ids[-1]}


def run_job(
    job: JobDefinition,
    instance: DagsterInstance,
    *,
    tags: Mapping[str, str] | None = None,
    run_config: Mapping[str, Any] | None = None,
    asset_selection: frozenset[AssetKey] | None = None,
) -> ExecuteInProcessResult:
    """One run of ``job`` in this process with the job's own executor."""
    return core_execute_in_process(
        run_config=dict(run_config or {}),
        job=InMemoryJob(job),
        instance=instance,
        output_capturing_enabled=False,
        raise_on_error=False,
        run_tags=dict(tags or {}),
        asset_selection=asset_selection,
    )


def run_ingest(
    instance: DagsterInstance,
    resources: Mapping[str, Any],
    drop_ids: Sequence[str],
    *,
    assets: Sequence[str] | None = None,
) -> ExecuteInProcessResult:
    """Run ``ingest`` (or its ``assets`` only) over ``drop_ids``; the drops must already
    be partitions of ``instance``."""
    from pixels_pipeline.definitions import defs
    from pixels_pipeline.jobs import ingest_job

    bound = Definitions(
        assets=list(defs.assets or []),  # type: ignore[arg-type]
        jobs=[ingest_job],
        resources=dict(resources),
    )
    job = bound.resolve_job_def(ingest_job.name)
    selection = None if assets is None else frozenset(AssetKey(a) for a in assets)
    if selection is not None:
        job = job.get_subset(asset_selection=selection)
    return run_job(job, instance, tags=partition_tags(drop_ids), asset_selection=selection)
