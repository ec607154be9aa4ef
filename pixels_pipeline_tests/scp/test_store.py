import errno
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pixels_pipeline.scp.store import DropStore
from pixels_pipeline.storage.drop_tracker import plan_tick

from .conftest import RunningScp

DROP = "scp-CT1-20261203T140509Z-0a1b2c3d"


def test_a_drop_is_incomplete_until_complete(tmp_path: Path) -> None:
    store = DropStore(str(tmp_path))
    store.write(DROP, "1.2.3.dcm", b"first")
    store.write(DROP, "1.2.4.dcm", b"second")
    store.write(DROP, "1.2.3.dcm", b"replaced")  # the same instance sent again
    first = plan_tick(str(tmp_path), None)
    assert first.runs == () and first.incomplete == (DROP,)
    store.complete(DROP)
    assert sorted(p.name for p in (tmp_path / DROP).iterdir()) == [
        "1.2.3.dcm",
        "1.2.4.dcm",
        "_SUCCESS",
    ]  # no temporary files left
    assert (tmp_path / DROP / "1.2.3.dcm").read_bytes() == b"replaced"
    assert [r.drop_id for r in plan_tick(str(tmp_path), first.cursor).runs] == [DROP]


def test_a_failed_write_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    store = DropStore(str(tmp_path))
    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space"):
        store.write(DROP, "1.2.3.dcm", b"data")
    assert list((tmp_path / DROP).iterdir()) == []


def test_discard_removes_the_drop(tmp_path: Path) -> None:
    store = DropStore(str(tmp_path))
    store.write(DROP, "1.2.3.dcm", b"data")
    assert store.discard(DROP) is True
    assert not (tmp_path / DROP).exists()
    assert store.discard(DROP) is False


@pytest.mark.parametrize(
    ("drop_id", "name"),
    [(DROP, "../escape.dcm"), (DROP, "sub/x.dcm"), (DROP, ".hidden"), ("../up", "x.dcm")],
)
def test_unsafe_names_are_refused(tmp_path: Path, drop_id: str, name: str) -> None:
    with pytest.raises(ValueError):
        DropStore(str(tmp_path / "landing")).write(drop_id, name, b"x")
    assert not (tmp_path / "escape.dcm").exists() and not (tmp_path / "landing").exists()


def make_drop(landing: Path, name: str, *, age_s: float, complete: bool = False) -> None:
    drop = landing / name
    drop.mkdir(parents=True)
    (drop / "1.2.3.dcm").write_bytes(b"x")
    if complete:
        (drop / "_SUCCESS").write_text("")
    then = time.time() - age_s
    for p in [*drop.iterdir(), drop]:
        os.utime(p, (then, then))


def test_remove_stale_takes_only_old_incomplete_scp_drops(tmp_path: Path) -> None:
    make_drop(tmp_path, "scp-CT1-20261201T000000Z-00000001", age_s=7200)  # cut, old
    make_drop(tmp_path, "scp-CT1-20261203T000000Z-00000002", age_s=10)  # still receiving
    make_drop(tmp_path, "scp-CT1-20261201T000000Z-00000003", age_s=7200, complete=True)
    make_drop(tmp_path, "manual-copy", age_s=7200)  # someone else's upload
    assert DropStore(str(tmp_path)).remove_stale(older_than_s=3600) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "manual-copy",
        "scp-CT1-20261201T000000Z-00000003",
        "scp-CT1-20261203T000000Z-00000002",
    ]


def test_scp_start_up_removes_stale_drops(
    tmp_path: Path, start_scp: Callable[..., RunningScp]
) -> None:
    make_drop(tmp_path / "landing", "scp-CT1-20261201T000000Z-00000001", age_s=7200)
    running = start_scp(stale_after_s=60)
    assert list(running.landing.iterdir()) == []
