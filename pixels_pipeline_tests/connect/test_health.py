"""The readiness check ``.ci/dev`` runs before the UI: against the real Delta-enabled
Connect server of this folder's fixture, and against nothing at all."""

import subprocess
import sys

import pytest

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
