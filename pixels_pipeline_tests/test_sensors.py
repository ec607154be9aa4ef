import json
import time
from pathlib import Path

from dagster import DagsterInstance, SensorResult, SkipReason, build_sensor_context

from pixels_pipeline.resources import LakeResource
from pixels_pipeline.samples import copy_drop, find_test_file
from pixels_pipeline.sensors import landing_sensor


def evaluate(instance: DagsterInstance, landing: Path, cursor: str | None) -> object:
    context = build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={"lake": LakeResource(landing=str(landing), lake=str(landing.parent / "lake"))},
    )
    return landing_sensor(context)


def add_drop(landing: Path, name: str, *, complete: bool = True) -> None:
    src = find_test_file("CT_small.dcm")
    assert src is not None
    copy_drop(landing, name, [src])
    if not complete:
        (landing / name / "_SUCCESS").unlink()


def test_new_complete_drop_becomes_partition_and_run(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    add_drop(landing, "drop-001")
    with DagsterInstance.ephemeral() as instance:
        result = evaluate(instance, landing, None)
    assert isinstance(result, SensorResult)
    assert [r.partition_key for r in result.run_requests or []] == ["drop-001"]
    assert [r.run_key for r in result.run_requests or []] == ["drop-001"]
    (request,) = result.dynamic_partitions_requests or []
    assert list(request.partition_keys) == ["drop-001"]
    assert "drop-001" in json.loads(result.cursor or "{}")


def test_incomplete_drop_is_ignored_until_success_marker(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    add_drop(landing, "half-copied", complete=False)
    with DagsterInstance.ephemeral() as instance:
        assert isinstance(evaluate(instance, landing, None), SkipReason)
        (landing / "half-copied" / "_SUCCESS").write_text("")
        result = evaluate(instance, landing, None)
    assert isinstance(result, SensorResult)
    assert [r.partition_key for r in result.run_requests or []] == ["half-copied"]


def test_cursor_prevents_requesting_a_drop_twice(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    add_drop(landing, "a")
    with DagsterInstance.ephemeral() as instance:
        first = evaluate(instance, landing, None)
        assert isinstance(first, SensorResult)
        assert isinstance(evaluate(instance, landing, first.cursor), SkipReason)
        add_drop(landing, "b")
        second = evaluate(instance, landing, first.cursor)
    assert isinstance(second, SensorResult)
    assert [r.partition_key for r in second.run_requests or []] == ["b"]
    assert set(json.loads(second.cursor or "{}")) == {"a", "b"}


def test_invalid_drop_names_and_stray_files_are_skipped(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    add_drop(landing, "bad name with spaces")
    (landing / "stray.dcm").write_bytes(b"x")
    add_drop(landing, "good")
    with DagsterInstance.ephemeral() as instance:
        result = evaluate(instance, landing, None)
    assert isinstance(result, SensorResult)
    assert [r.partition_key for r in result.run_requests or []] == ["good"]


def test_missing_landing_zone_skips(tmp_path: Path) -> None:
    start = time.perf_counter()
    with DagsterInstance.ephemeral() as instance:
        assert isinstance(evaluate(instance, tmp_path / "nowhere", None), SkipReason)
    assert time.perf_counter() - start < 30
