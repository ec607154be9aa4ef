"""An in-process executor that runs independent steps at the same time, in threads.

Why: every step of a run drives one Spark session (local JVM or Connect server), so
steps belong in one process: a process per step (Dagster's multiprocess executor) would
start a session per step. Dagster's in-process executor runs steps one after another,
although ``metadata``, ``thumbnails`` and ``patches`` depend on ``object_catalog`` only,
and ``series``/``studies`` on ``metadata`` only. Most of a small drop's step is latency
(Delta log reads, job scheduling, commits), so steps that overlap finish sooner; Spark
schedules the jobs of concurrent threads on the same executors.

The orchestration (which steps are ready, retries, skips after a failure, hooks) stays
Dagster's ``ActiveExecution`` and runs on the calling thread only; worker threads only
iterate ``dagster_event_sequence_for_step`` and hand each event back through a queue.
A thread cannot be interrupted: when the run is terminated, the steps in flight finish
(or fail) before the run ends, and no new step starts.
"""

from __future__ import annotations

import os
import queue
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from dagster import Field, executor
from dagster._core.events import DagsterEvent, EngineEventData
from dagster._core.execution.api import ExecuteRunWithPlanIterable
from dagster._core.execution.compute_logs import create_compute_log_file_key
from dagster._core.execution.context.system import (
    PlanExecutionContext,
    PlanOrchestrationContext,
    StepExecutionContext,
)
from dagster._core.execution.context_creation_job import PlanExecutionContextManager
from dagster._core.execution.plan.execute_plan import (
    _trigger_hook,
    dagster_event_sequence_for_step,
)
from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext
from dagster._core.execution.plan.plan import ExecutionPlan
from dagster._core.execution.retries import RetryMode, get_retries_config
from dagster._core.execution.step_dependency_config import (
    StepDependencyConfig,
    get_step_dependency_config_field,
)
from dagster._core.executor.base import Executor
from dagster._core.executor.init import InitExecutorContext

DEFAULT_MAX_CONCURRENT = 4
_POLL_S = 0.2


@dataclass
class _Running:
    """A step in flight: its context and the events it has sent (for its hooks)."""

    context: StepExecutionContext
    events: list[DagsterEvent] = field(default_factory=list)


@dataclass(frozen=True)
class _Finished:
    """A worker thread's last message for a step: ``error`` if the framework raised."""

    error: BaseException | None = None


_Message = tuple[str, DagsterEvent | _Finished]


def _run_step(key: str, context: StepExecutionContext, out: queue.Queue[_Message]) -> None:
    """Worker thread: the step's events, then ``_Finished`` (user errors are events;
    an exception here is Dagster's own and fails the run as in-process execution would)."""
    try:
        for event in dagster_event_sequence_for_step(context):
            out.put((key, event))
    except BaseException as exc:  # handed to the orchestrating thread, which raises it
        out.put((key, _Finished(exc)))
        return
    out.put((key, _Finished()))


def threaded_plan_iterator(
    job_context: PlanExecutionContext,
    execution_plan: ExecutionPlan,
    max_concurrent: int,
) -> Iterator[DagsterEvent]:
    """Dagster's in-process plan loop with up to ``max_concurrent`` steps in flight."""
    compute_log_manager = job_context.instance.compute_log_manager
    step_keys = [step.key for step in execution_plan.get_steps_to_execute_in_topo_order()]
    messages: queue.Queue[_Message] = queue.Queue()
    running: dict[str, _Running] = {}
    stopping = False
    with ExitStack() as stack:
        concurrency = stack.enter_context(
            InstanceConcurrencyContext(job_context.instance, job_context.dagster_run)
        )
        active = stack.enter_context(
            execution_plan.start(
                retry_mode=job_context.retry_mode,
                instance_concurrency_context=concurrency,
                step_dependency_config=job_context.step_dependency_config,
            )
        )
        # One capture for the whole process, as the in-process executor does: steps
        # running at the same time share stdout and stderr anyway.
        log_key = compute_log_manager.build_log_key_for_run(
            job_context.run_id,
            create_compute_log_file_key(),  # type: ignore[no-untyped-call]
        )
        log_context = stack.enter_context(compute_log_manager.capture_logs(log_key))
        yield DagsterEvent.capture_logs(job_context, step_keys, log_key, log_context)
        pool = ThreadPoolExecutor(max_workers=max_concurrent, thread_name_prefix="dagster-step")
        stack.callback(pool.shutdown, wait=True)
        while running or not (stopping or active.is_complete):
            if not stopping and active.check_for_interrupts():
                stopping = True
                active.mark_interrupted()
                yield DagsterEvent.engine_event(
                    job_context,
                    "Termination requested: no new step starts; the steps in flight "
                    f"({', '.join(sorted(running))}) end first",
                    EngineEventData.interrupted(list(running)),
                )
            if not (stopping or active.is_complete):
                steps = active.get_steps_to_execute(limit=max_concurrent - len(running))
                yield from active.concurrency_event_iterator(job_context)
                for step in steps:
                    context = job_context.for_step(step, active.get_known_state())
                    running[step.key] = _Running(context)
                    pool.submit(_run_step, step.key, context, messages)
            if not running:
                active.sleep_til_ready()
                continue
            try:
                key, message = messages.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            if isinstance(message, DagsterEvent):
                running[key].events.append(message)
                yield message
                active.handle_event(message)
                continue
            step_run = running.pop(key)
            if message.error is not None:
                raise message.error
            active.verify_complete(job_context, key)
            for event in active.plan_events_iterator(job_context):
                step_run.events.append(event)
                yield event
            yield from _trigger_hook(step_run.context, step_run.events)


class ThreadedExecutor(Executor):
    """Steps of one run in one process, up to ``max_concurrent`` at a time."""

    def __init__(
        self,
        retries: RetryMode,
        max_concurrent: int,
        step_dependency_config: StepDependencyConfig,
    ) -> None:
        self._retries = retries
        self._max_concurrent = max(1, max_concurrent)
        self._step_dependency_config = step_dependency_config

    @property
    def retries(self) -> RetryMode:
        return self._retries

    @property
    def step_dependency_config(self) -> StepDependencyConfig:
        return self._step_dependency_config

    def execute(
        self, plan_context: PlanOrchestrationContext, execution_plan: ExecutionPlan
    ) -> Iterator[DagsterEvent]:
        keys = execution_plan.step_keys_to_execute
        yield DagsterEvent.engine_event(
            plan_context,
            f"Executing steps in process (pid: {os.getpid()}), "
            f"up to {self._max_concurrent} at a time",
            event_specific_data=EngineEventData.in_process(os.getpid(), keys),
        )
        limit = self._max_concurrent

        def iterator(
            job_context: PlanExecutionContext, execution_plan: ExecutionPlan
        ) -> Iterator[DagsterEvent]:
            return threaded_plan_iterator(job_context, execution_plan, limit)

        yield from iter(
            ExecuteRunWithPlanIterable(
                execution_plan=plan_context.execution_plan,
                iterator=iterator,
                execution_context_manager=PlanExecutionContextManager(
                    job=plan_context.job,
                    retry_mode=plan_context.retry_mode,
                    execution_plan=plan_context.execution_plan,
                    run_config=plan_context.run_config,
                    dagster_run=plan_context.dagster_run,
                    instance=plan_context.instance,
                    raise_on_error=plan_context.raise_on_error,
                    output_capture=plan_context.output_capture,
                    step_dependency_config=self.step_dependency_config,
                ),
            )
        )
        yield DagsterEvent.engine_event(
            plan_context,
            f"Finished steps in process (pid: {os.getpid()})",
            event_specific_data=EngineEventData.in_process(os.getpid(), keys),
        )


@executor(  # type: ignore[misc]
    name="threaded_in_process",
    config_schema={
        "retries": get_retries_config(),  # type: ignore[no-untyped-call]
        "max_concurrent": Field(
            int,
            default_value=DEFAULT_MAX_CONCURRENT,
            description="steps in flight at once (1: one after another, as in_process)",
        ),
        "step_dependency_config": get_step_dependency_config_field(),  # type: ignore[no-untyped-call]
    },
)
def threaded_in_process_executor(init_context: InitExecutorContext) -> ThreadedExecutor:
    """Every step in the run's process, independent steps at the same time (threads)."""
    config: dict[str, Any] = dict(init_context.executor_config)
    return ThreadedExecutor(
        retries=RetryMode.from_config(config["retries"]) or RetryMode.DISABLED,
        max_concurrent=int(config["max_concurrent"]),
        step_dependency_config=StepDependencyConfig.from_config(
            config.get("step_dependency_config")
        ),
    )
