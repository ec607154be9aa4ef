"""A Spark standalone cluster on 127.0.0.1 — one master, one worker — started from the
pyspark distribution for the cluster tests, and stopped at teardown."""

from __future__ import annotations

import json
import os
import re
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


def spark_home() -> Path:
    """pyspark's package folder is a complete Spark distribution (bin/, jars/)."""
    return Path(pyspark.__file__).parent


def free_ports(count: int) -> list[int]:
    """Distinct free ports: all sockets stay bound until every port is chosen."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]
    finally:
        for sock in socks:
            sock.close()


MASTER_BOUND = re.compile(r"Starting Spark master at (spark://\S+)")
UI_BOUND = re.compile(r"Bound MasterWebUI to .*started at https?://[^/\s]+:(\d+)")


def bound_master(master_log: Path) -> tuple[str, str] | None:
    """The master's URL and web UI as really bound, once both are: Spark moves on to the
    next port when the one asked for was taken in the meantime by another process."""
    text = master_log.read_text(errors="replace")
    url, ui = MASTER_BOUND.search(text), UI_BOUND.search(text)
    return (url.group(1), f"http://127.0.0.1:{ui.group(1)}") if url and ui else None


def check_alive(deadline: float, work: Path, *procs: subprocess.Popen[bytes]) -> None:
    if time.monotonic() > deadline or any(proc.poll() is not None for proc in procs):
        logs = [
            (work / n).read_text()[-2000:]
            for n in ("master.log", "worker.log")
            if (work / n).exists()
        ]
        raise RuntimeError("Spark cluster did not start:\n" + "\n".join(logs))


def alive_workers(master_ui: str) -> int:
    try:
        with urllib.request.urlopen(f"{master_ui}/json/", timeout=2) as response:
            return int(json.load(response).get("aliveworkers", 0))
    except (OSError, ValueError):  # not up yet, or not the master's UI answering
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
    port, ui, worker_ui = free_ports(3)
    deadline = time.monotonic() + START_TIMEOUT_S
    master = start_daemon(
        [
            "org.apache.spark.deploy.master.Master",
            *("--host", "127.0.0.1", "--port", str(port), "--webui-port", str(ui)),
        ],
        env,
        work / "master.log",
    )
    worker: subprocess.Popen[bytes] | None = None
    try:
        while (bound := bound_master(work / "master.log")) is None:
            check_alive(deadline, work, master)
            time.sleep(0.5)
        master_url, master_ui = bound
        worker = start_daemon(
            [
                "org.apache.spark.deploy.worker.Worker",
                master_url,
                *("--cores", "1", "--memory", "1g", "--host", "127.0.0.1"),
                *("--webui-port", str(worker_ui), "--work-dir", str(work / "work")),
            ],
            env,
            work / "worker.log",
        )
        while alive_workers(master_ui) < 1:
            check_alive(deadline, work, master, worker)
            time.sleep(0.5)
        yield Cluster(master_url, master_ui, worker.pid)
    finally:
        if worker is not None:
            stop_daemon(worker)
        stop_daemon(master)
