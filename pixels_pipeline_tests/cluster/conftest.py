"""A Spark standalone cluster on 127.0.0.1 — one master, one worker — started from the
pyspark distribution for the cluster tests, and stopped at teardown."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyspark
import pytest

START_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Cluster:
    master_url: str  # spark://127.0.0.1:<port>
    master_ui: str  # http://127.0.0.1:<port>
    worker_pid: int  # the worker JVM: executors it launches are its children


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spark_home() -> Path:
    """pyspark's package folder is a complete Spark distribution (bin/, jars/)."""
    return Path(pyspark.__file__).parent


def alive_workers(master_ui: str) -> int:
    try:
        with urllib.request.urlopen(f"{master_ui}/json/", timeout=2) as response:
            return int(json.load(response).get("aliveworkers", 0))
    except OSError:
        return 0


def start_daemon(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(spark_home() / "bin" / "spark-class"), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # its own process group: teardown stops all of it
        )


def stop_daemon(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="session")
def spark_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A master and one worker (1 core, 1 GB) whose executors run the venv's Python."""
    work = tmp_path_factory.mktemp("spark_cluster")
    env = {
        **os.environ,
        "SPARK_HOME": str(spark_home()),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
        "SPARK_WORKER_DIR": str(work / "work"),  # not inside the installed pyspark
    }
    port, ui = free_port(), free_port()
    master = start_daemon(
        [
            "org.apache.spark.deploy.master.Master",
            *("--host", "127.0.0.1", "--port", str(port), "--webui-port", str(ui)),
        ],
        env,
        work / "master.log",
    )
    master_url, master_ui = f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{ui}"
    worker = start_daemon(
        [
            "org.apache.spark.deploy.worker.Worker",
            master_url,
            *("--cores", "1", "--memory", "1g", "--host", "127.0.0.1"),
            *("--webui-port", str(free_port()), "--work-dir", str(work / "work")),
        ],
        env,
        work / "worker.log",
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while alive_workers(master_ui) < 1:
            if (
                time.monotonic() > deadline
                or master.poll() is not None
                or worker.poll() is not None
            ):
                logs = [(work / n).read_text()[-2000:] for n in ("master.log", "worker.log")]
                raise RuntimeError(f"Spark cluster did not start:\n{logs[0]}\n{logs[1]}")
            time.sleep(0.5)
        yield Cluster(master_url, master_ui, worker.pid)
    finally:
        stop_daemon(worker)
        stop_daemon(master)
