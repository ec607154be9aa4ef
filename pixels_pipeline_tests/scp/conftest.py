"""A real storage SCP on 127.0.0.1 (a free port), in this process, per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pixels_pipeline.scp import DropStore, ScpConfig, StorageScp


@dataclass
class RunningScp:
    scp: StorageScp
    port: int
    landing: Path


@pytest.fixture
def start_scp(tmp_path: Path) -> Iterator[Callable[..., RunningScp]]:
    """``start_scp(**config)`` starts an SCP landing into ``tmp_path/landing`` (or
    ``landing=...``); every SCP started is stopped after the test."""
    started: list[StorageScp] = []

    def start(*, store: DropStore | None = None, **overrides: Any) -> RunningScp:
        settings: dict[str, Any] = {"landing": str(tmp_path / "landing"), "port": 0}
        settings.update(overrides)
        scp = StorageScp(ScpConfig(**settings), store)
        port = scp.start()
        started.append(scp)
        return RunningScp(scp, port, Path(settings["landing"]))

    yield start
    for scp in started:
        scp.stop()
