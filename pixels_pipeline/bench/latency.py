"""Small-drop latency: what a user waits for after a drop lands.

Three numbers, each from the run's own start to its end (Dagster's run stats), the
``ingest`` job with every asset:

- ``small_drop_s``: one 10-file drop;
- ``noop_s``: the same drop again, nothing changed;
- ``five_drops_s``: five 10-file drops arriving in one sensor tick, run as the sensor
  runs them.

Runs go to a Spark Connect server started once, as ``.ci/dev`` does (``spark``:
``"connect"``), or start their own local session (``"local"``: the JVM start is then part
of every run).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from pixels_pipeline import api
from pixels_pipeline.bench.corpus import build_corpus
from pixels_pipeline.exit_status import keep_exit_status

SparkMode = Literal["connect", "local"]
FILES_PER_DROP = 10


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def connect_server(log: Path, *, timeout_s: float = 180.0) -> Iterator[str]:
    """A Delta-enabled Spark Connect server on loopback; yields its ``sc://`` URL."""
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pixels_pipeline.spark.connect_server", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_port(port, proc, timeout_s)
        yield f"sc://127.0.0.1:{port}"
    finally:
        close_connect_sessions()
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def close_connect_sessions() -> None:
    """Close this process's Spark Connect sessions while their server still runs: an open
    client's exit handler calls the server and, once it is gone, retries for minutes."""
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    for session in (ConnectSession.getActiveSession(), ConnectSession._get_default_session()):
        if session is not None and not session.is_stopped:
            session.stop()


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the Spark Connect server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"no Spark Connect server on port {port} after {timeout_s:.0f} s")


def run_seconds(instance: Any, run_id: str) -> float:
    stats = instance.get_run_stats(run_id)
    return float(stats.end_time - stats.start_time)


def ingest(
    landing: Path, lake: Path, drop_ids: Sequence[str], *, master: str | None
) -> tuple[float, dict[str, Any]]:
    """One ``ingest`` run of ``drop_ids`` (one run, as the sensor batches a tick); returns
    its seconds from run start and each asset's ``duration_s``, ``committed``, ``drops``."""
    from dagster import DagsterInstance

    from pixels_pipeline.bench.ingest_run import run_ingest
    from pixels_pipeline.resources import LakeResource, SparkResource

    spark = SparkResource(master=master, stop_at_teardown=master is None)
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("drops", list(drop_ids))
        result = run_ingest(
            instance,
            {"spark": spark, "lake": LakeResource(landing=str(landing), lake=str(lake))},
            drop_ids,
        )
        if not result.success:
            raise RuntimeError("a latency run failed")
        seconds = run_seconds(instance, result.run_id)
    assets: dict[str, dict[str, Any]] = {}
    for event in result.get_asset_materialization_events():
        mat = event.step_materialization_data.materialization
        assets[mat.asset_key.to_user_string()] = {
            key: getattr(mat.metadata.get(key), "value", None)
            for key in ("duration_s", "committed", "drops")
        }
    return seconds, assets


def run(
    workdir: Path,
    *,
    spark: SparkMode = "connect",
    server: str | None = None,
    files_per_drop: int = FILES_PER_DROP,
    warm_up: bool = True,
) -> dict[str, Any]:
    """Build the drops under ``workdir`` and time the three cases (``server``: an
    ``sc://`` URL to use instead of starting a Connect server). The server's first run
    pays for class loading and Python workers: ``warm_up`` runs a drop first, as a
    long-lived server has seen runs before the user's drop."""
    landing, lake = workdir / "landing", workdir / "lake"
    names = ["warmup", "small", *(f"tick-{i}" for i in range(5))]
    for name in names:
        build_corpus(landing / name, files_per_drop)
    if spark == "local":
        return _cases(landing, lake, names[2:], files_per_drop, master=None)
    with contextlib.ExitStack() as stack:
        url = server or stack.enter_context(connect_server(workdir / "connect-server.log"))
        if warm_up:
            ingest(landing, lake, ["warmup"], master=url)
        return _cases(landing, lake, names[2:], files_per_drop, master=url)


def _cases(
    landing: Path, lake: Path, five: Sequence[str], files_per_drop: int, *, master: str | None
) -> dict[str, Any]:
    small_s, small_assets = ingest(landing, lake, ["small"], master=master)
    noop_s, noop_assets = ingest(landing, lake, ["small"], master=master)
    five_s, five_assets = ingest(landing, lake, five, master=master)
    return {
        "spark": "connect" if master else "local",
        "files_per_drop": files_per_drop,
        "small_drop_s": round(small_s, 3),
        "noop_s": round(noop_s, 3),
        "five_drops_s": round(five_s, 3),
        "five_drops_vs_one": round(five_s / max(small_s, 1e-9), 3),
        "small_drop_assets": small_assets,
        "noop_assets": noop_assets,
        "five_drops_assets": five_assets,
        # metadata rows per drop after the batched run (from the Delta log)
        "five_drops_rows": api.count_rows(str(lake), "metadata", list(five)),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--local", action="store_true", help="local Spark in each run")
    parser.add_argument("--server", default=None, help="an sc:// server to use (else started)")
    parser.add_argument("--files-per-drop", type=int, default=FILES_PER_DROP)
    parser.add_argument("--warm-up", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--out", type=Path, default=None, help="write the JSON here too")
    args = parser.parse_args(argv)
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    with tempfile.TemporaryDirectory(prefix="pixels-latency-") as tmp:
        result = run(
            Path(tmp),
            spark="local" if args.local else "connect",
            server=args.server,
            files_per_drop=args.files_per_drop,
            warm_up=args.warm_up,
        )
    text = json.dumps(result, indent=2)
    if args.out is not None:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    keep_exit_status()
    main()
    sys.exit(0)
