import os
import time
from pathlib import Path

from dagster import DagsterInstance, PartitionKeyRange, SensorResult, build_sensor_context
from dagster._core.definitions.partitions.context import partition_loading_context

from pixels_pipeline.partitions import drops_partitions
from pixels_pipeline.resources import LakeResource
from pixels_pipeline.samples import copy_drop, find_test_file
from pixels_pipeline.sensors import landing_sensor, requested_drops
from pixels_pipeline.storage.drop_tracker import ingested_drops, plan_tick


def evaluate(instance: DagsterInstance, landing: Path, cursor: str | None) -> SensorResult:
    context = build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={"lake": LakeResource(landing=str(landing), lake=str(landing.parent / "lake"))},
    )
    result = landing_sensor(context)
    assert isinstance(result, SensorResult)
    return result


def requested(result: SensorResult) -> list[str]:
    return [r.partition_key or "" for r in result.run_requests or []]


def add_drop(landing: Path, name: str, *, complete: bool = True) -> Path:
    src = find_test_file("CT_small.dcm")
    assert src is not None
    drop = copy_drop(landing, name, [src])
    if not complete:
        (drop / "_SUCCESS").unlink()
    return drop


def test_new_complete_drop_becomes_partition_and_run(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    add_drop(landing, "drop-001")
    with DagsterInstance.ephemeral() as instance:
        result = evaluate(instance, landing, None)
    assert requested(result) == ["drop-001"]
    (request,) = result.dynamic_partitions_requests or []
    assert list(request.partition_keys or []) == ["drop-001"]
    assert ingested_drops(result.cursor) == ["drop-001"]


def test_incomplete_drop_is_ignored_until_success_marker(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    drop = add_drop(landing, "half-copied", complete=False)
    with DagsterInstance.ephemeral() as instance:
        first = evaluate(instance, landing, None)
        assert requested(first) == [] and first.skip_reason is not None
        (drop / "_SUCCESS").write_text("")
        second = evaluate(instance, landing, first.cursor)
    assert requested(second) == ["half-copied"]


def test_cursor_prevents_requesting_a_drop_twice(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    add_drop(landing, "a")
    with DagsterInstance.ephemeral() as instance:
        first = evaluate(instance, landing, None)
        again = evaluate(instance, landing, first.cursor)
        assert requested(again) == []
        add_drop(landing, "b")
        second = evaluate(instance, landing, again.cursor)
    assert requested(second) == ["b"]
    assert ingested_drops(second.cursor) == ["a", "b"]


def test_late_files_and_retouched_marker_rerun_the_drop(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    drop = add_drop(landing, "growing")
    with DagsterInstance.ephemeral() as instance:
        first = evaluate(instance, landing, None)
        # A file arrives at the top of the drop: the folder's time changes.
        (drop / "late.dcm").write_bytes((drop / "CT_small.dcm").read_bytes())
        os.utime(drop, (time.time() + 5, time.time() + 5))
        second = evaluate(instance, landing, first.cursor)
        assert requested(second) == ["growing"]
        assert not second.dynamic_partitions_requests  # not a new partition
        # The uploader re-touches _SUCCESS after adding files in a sub-folder.
        (drop / "sub").mkdir()
        (drop / "sub" / "x.dcm").write_bytes(b"x")
        os.utime(drop / "_SUCCESS", (time.time() + 10, time.time() + 10))
        third = evaluate(instance, landing, second.cursor)
        assert requested(third) == ["growing"]
        keys = {r.run_key for r in [*(second.run_requests or []), *(third.run_requests or [])]}
        assert len(keys) == 2  # each state of the drop is its own run
        assert requested(evaluate(instance, landing, third.cursor)) == []


def test_marker_checks_per_tick_are_bounded(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    for i in range(30):
        add_drop(landing, f"d{i:03d}")
    first = plan_tick(str(landing), None, recheck_per_tick=5)
    assert len(first.runs) == 30 and first.markers_checked == 30
    second = plan_tick(str(landing), first.cursor, recheck_per_tick=5)
    assert second.runs == () and second.markers_checked == 5
    # Every known drop is re-checked within ceil(30 / 5) ticks.
    os.utime(landing / "d017" / "_SUCCESS", (time.time() + 5, time.time() + 5))
    cursor, seen = second.cursor, []
    for _ in range(6):
        plan = plan_tick(str(landing), cursor, recheck_per_tick=5)
        cursor, seen = plan.cursor, seen + [r.drop_id for r in plan.runs]
    assert seen == ["d017"]


def test_invalid_drop_names_and_stray_files_are_skipped(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    add_drop(landing, "bad name with spaces")
    (landing / "stray.dcm").write_bytes(b"x")
    add_drop(landing, "good")
    with DagsterInstance.ephemeral() as instance:
        result = evaluate(instance, landing, None)
    assert requested(result) == ["good"]


def test_missing_landing_zone_skips(tmp_path: Path) -> None:
    with DagsterInstance.ephemeral() as instance:
        result = evaluate(instance, tmp_path / "nowhere", None)
    assert requested(result) == [] and result.skip_reason is not None


def test_drops_of_one_tick_run_together_known_ones_alone(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    for name in ("t-1", "t-2", "t-3", "by-hand"):
        add_drop(landing, name)
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("drops", ["older", "by-hand"])  # added from the CLI
        result = evaluate(instance, landing, None)
        (added,) = result.dynamic_partitions_requests or []
        instance.add_dynamic_partitions("drops", list(added.partition_keys or []))
        order = instance.get_dynamic_partitions("drops")
        batch, alone = sorted(result.run_requests or [], key=lambda r: r.partition_key or "")
        # Dagster's own resolution of the batch's range is exactly the tick's new drops.
        assert batch.partition_key is None and batch.partition_key_range is not None
        with partition_loading_context(dynamic_partitions_store=instance):
            in_range = drops_partitions.get_partition_keys_in_range(
                PartitionKeyRange(batch.partition_key_range.start, batch.partition_key_range.end)
            )
    assert sorted(in_range) == ["t-1", "t-2", "t-3"]
    assert requested_drops(batch, order) == in_range
    assert alone.partition_key == "by-hand"
    assert sorted(ingested_drops(result.cursor)) == ["by-hand", "t-1", "t-2", "t-3"]
