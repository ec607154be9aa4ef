"""The instance settings the project ships (dagster.yaml), as Dagster reads them."""

from pathlib import Path

from dagster import DagsterInstance

ROOT = Path(__file__).resolve().parents[1]


def test_runs_of_one_drop_are_serialized_by_the_run_queue(tmp_path: Path) -> None:
    (tmp_path / "dagster.yaml").write_bytes((ROOT / "dagster.yaml").read_bytes())
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        queue = instance.get_concurrency_config().run_queue_config
    assert queue is not None
    per_drop = [lim for lim in queue.tag_concurrency_limits if lim["key"] == "dagster/partition"]
    assert per_drop == [
        {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
    ]
