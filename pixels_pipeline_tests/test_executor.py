"""The run executor: independent steps at the same time in one process, with Dagster's
semantics kept (dependencies, a failed step's downstream skipped, ``max_concurrent``)."""

from __future__ import annotations

import threading
import time

from dagster import DagsterEventType, DagsterInstance, job, op

from pixels_pipeline.bench.ingest_run import run_job
from pixels_pipeline.definitions import defs
from pixels_pipeline.executor import threaded_in_process_executor

# Two steps that meet here can only both pass if they run at the same time: a serial
# executor would leave the first one waiting until the barrier breaks.
_MEETING = threading.Barrier(2, timeout=60)
_SPANS: dict[str, tuple[float, float]] = {}


@op
def source() -> int:
    return 1


@op
def left(x: int) -> int:
    _MEETING.wait()
    return x


@op
def right(x: int) -> int:
    _MEETING.wait()
    return x + 1


@op
def joined(a: int, b: int) -> int:
    return a + b


@job(executor_def=threaded_in_process_executor)
def diamond() -> None:
    x = source()
    joined(left(x), right(x))


@op
def broken(x: int) -> int:
    raise ValueError(f"broken on purpose ({x})")


@op
def after_broken(x: int) -> int:
    return x


@op
def healthy(x: int) -> int:
    return x


@job(executor_def=threaded_in_process_executor)
def half_broken() -> None:
    x = source()
    after_broken(broken(x))
    healthy(x)


def _span(name: str) -> None:
    start = time.monotonic()
    time.sleep(0.2)
    _SPANS[name] = (start, time.monotonic())


@op
def first_sleeper(x: int) -> int:
    _span("first")
    return x


@op
def second_sleeper(x: int) -> int:
    _span("second")
    return x


@job(executor_def=threaded_in_process_executor)
def two_sleepers() -> None:
    x = source()
    first_sleeper(x)
    second_sleeper(x)


def _order(events: list[object], kind: DagsterEventType) -> list[str]:
    return [e.step_key for e in events if e.event_type == kind]  # type: ignore[attr-defined]


def test_independent_steps_run_at_the_same_time() -> None:
    _MEETING.reset()
    result = run_job(diamond, DagsterInstance.ephemeral())
    assert result.success
    events = list(result.all_events)
    starts = _order(events, DagsterEventType.STEP_START)
    successes = _order(events, DagsterEventType.STEP_SUCCESS)
    assert starts[0] == "source" and starts[-1] == "joined"
    assert set(successes) == {"source", "left", "right", "joined"}
    # joined starts only after both of its inputs are done
    assert events.index(next(e for e in events if e.step_key == "joined")) > max(
        i for i, e in enumerate(events) if e.step_key in {"left", "right"}
    )


def _outcome(result: object) -> dict[str, set[str]]:
    events = list(result.all_events)  # type: ignore[attr-defined]
    kinds = {
        "started": DagsterEventType.STEP_START,
        "succeeded": DagsterEventType.STEP_SUCCESS,
        "failed": DagsterEventType.STEP_FAILURE,
        "skipped": DagsterEventType.STEP_SKIPPED,
    }
    return {name: set(_order(events, kind)) for name, kind in kinds.items()}


def test_a_failed_step_stops_its_downstream_only_as_in_process_does() -> None:
    result = run_job(half_broken, DagsterInstance.ephemeral())
    assert not result.success
    outcome = _outcome(result)
    assert outcome["failed"] == {"broken"}
    assert outcome["succeeded"] == {"source", "healthy"}
    assert "after_broken" not in outcome["started"]
    failure = result.get_step_failure_events()[0]
    assert "broken on purpose" in str(failure.step_failure_data.error)
    serial = half_broken.execute_in_process(raise_on_error=False)  # Dagster's own executor
    assert _outcome(serial) == outcome


def test_max_concurrent_one_runs_steps_one_after_another() -> None:
    _SPANS.clear()
    config = {"execution": {"config": {"max_concurrent": 1}}}
    result = run_job(two_sleepers, DagsterInstance.ephemeral(), run_config=config)
    assert result.success
    first, second = sorted(_SPANS.values())
    assert first[1] <= second[0]  # the second started after the first ended


def test_the_project_runs_its_jobs_with_it() -> None:
    # ingest, the nightly maintenance and the UI's materializations (the implicit job)
    for name in ("ingest", "maintenance_job", "__ASSET_JOB"):
        assert defs.resolve_job_def(name).executor_def is threaded_in_process_executor
