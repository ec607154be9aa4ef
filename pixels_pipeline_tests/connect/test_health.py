"""What ``.ci/dev`` relies on: the readiness check it runs before the UI (against the
real Delta-enabled Connect server of this folder's fixture, and against nothing at all),
and small-drop runs as thin clients of that server (``bench.latency``)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pixels_pipeline.jobs import INGEST_ASSETS
from pixels_pipeline.spark.health import ServerNotReadyError, wait_ready
from pixels_pipeline_tests.connect.conftest import free_port


def test_ready_server_with_delta_is_accepted(connect_url: str) -> None:
    # A process of its own, as .ci/dev runs it (this one may hold a local session).
    done = subprocess.run(
        [sys.executable, "-m", "pixels_pipeline.spark.health", connect_url, "--timeout", "60"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and "ready at" in done.stdout


def test_a_dead_server_fails_at_once_with_a_clear_error() -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with pytest.raises(ServerNotReadyError, match="exited"):
        wait_ready(f"sc://127.0.0.1:{free_port()}", pid=dead.pid, timeout_s=30)


def test_nothing_listening_times_out() -> None:
    with pytest.raises(ServerNotReadyError, match="no Spark Connect server ready"):
        wait_ready(f"sc://127.0.0.1:{free_port()}", timeout_s=2)


def test_latency_benchmark_runs_small_drops_on_the_server(connect_url: str, tmp_path: Path) -> None:
    """``bench.latency`` on this folder's server: every asset of the small drop, the
    unchanged re-run commits nothing, the five drops of a tick are one run over all five."""
    out = tmp_path / "latency.json"
    # A process of its own: this one may hold a local session, and a process has one kind.
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pixels_pipeline.bench.latency",
            "--server",
            connect_url,
            "--files-per-drop",
            "2",
            "--no-warm-up",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=900,  # a guard against a hang, not a speed check
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["spark"] == "connect" and result["files_per_drop"] == 2
    assert min(result["small_drop_s"], result["noop_s"], result["five_drops_s"]) > 0
    assert set(result["small_drop_assets"]) == set(INGEST_ASSETS)
    for name in ("object_catalog", "metadata", "thumbnails", "patches"):
        assert result["small_drop_assets"][name]["committed"] is True, name
        assert result["noop_assets"][name]["committed"] is False, name
        drops = result["five_drops_assets"][name]["drops"]
        assert drops == ", ".join(f"tick-{i}" for i in range(5)), name
    assert result["five_drops_rows"] == {f"tick-{i}": 2 for i in range(5)}
