"""Drop ids are checked wherever they are used, not only by the sensor."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import DagsterInstance

from pixels_pipeline import api, drops
from pixels_pipeline.resources import LakeResource
from pixels_pipeline.storage.landing import InvalidDropIdError, check_drop_id

HOSTILE = ["../escape", "..", ".", "a/b", "/etc", "drop-1\n", "", "x" * 200, "dröp", "a b"]


@pytest.mark.parametrize("drop_id", HOSTILE)
def test_hostile_drop_ids_are_refused(drop_id: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidDropIdError, match="invalid drop id"):
        check_drop_id(drop_id)
    lake = LakeResource(landing=str(tmp_path / "landing"), lake=str(tmp_path / "lake"))
    with pytest.raises(InvalidDropIdError):
        lake.drop_uri(drop_id)
    with pytest.raises(InvalidDropIdError):  # refused before the rows are even looked at
        api.write_table([], str(tmp_path / "lake"), "object_catalog", drop_ids=[drop_id])
    assert not (tmp_path / "lake").exists()


def test_valid_drop_ids_pass() -> None:
    for drop_id in ["drop-001", "2026.12.03_ct", "A"]:
        assert check_drop_id(drop_id) == drop_id


def test_cli_refuses_hostile_drop_ids(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    for drop_id in ["../escape", "drop-1\n"]:
        with pytest.raises(SystemExit):
            drops.main(["add", drop_id])
    drops.main(["add", "drop-1"])
    with DagsterInstance.get() as instance:
        assert instance.get_dynamic_partitions("drops") == ["drop-1"]
