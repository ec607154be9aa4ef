"""``python -m pixels_pipeline.spark.health sc://127.0.0.1:15002 [--pid N] [--timeout S]``

Wait until a Spark Connect server answers a query (``SELECT 1``) and serves Delta Lake
(its SQL extension is loaded), or fail with a clear message: the server process ``N``
exited, or the time ran out. ``.ci/dev`` runs it before it starts the UI.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
from collections.abc import Sequence
from urllib.parse import urlparse

from pyspark.sql import SparkSession

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"


class ServerNotReadyError(RuntimeError):
    """The Spark Connect server did not come up."""


def _alive(pid: int | None) -> bool:
    if pid is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def listening(url: str) -> bool:
    """Whether the server's port accepts a connection (the Spark client itself would
    retry a closed port for minutes)."""
    parsed = urlparse(url.replace("sc://", "http://", 1))
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 15002), 2):
            return True
    except OSError:
        return False


def check(url: str) -> None:
    """One query against the server; raises if it fails or lacks Delta Lake."""
    spark = SparkSession.builder.remote(url).getOrCreate()
    try:
        if spark.sql("SELECT 1 AS one").collect()[0]["one"] != 1:
            raise ServerNotReadyError("the server answered SELECT 1 wrongly")
        extensions = spark.conf.get("spark.sql.extensions", "") or ""
        if DELTA_EXTENSION not in extensions:
            raise ServerNotReadyError(
                "the server runs without Delta Lake: start it with "
                "python -m pixels_pipeline.spark.connect_server"
            )
    finally:
        spark.stop()


def wait_ready(url: str, *, pid: int | None = None, timeout_s: float = 180.0) -> float:
    """Seconds until the server at ``url`` is ready."""
    started = time.monotonic()
    last: Exception | None = None
    while time.monotonic() - started < timeout_s:
        if not _alive(pid):
            raise ServerNotReadyError(f"the Spark Connect server (pid {pid}) exited")
        if not listening(url):
            time.sleep(1.0)
            continue
        try:
            check(url)
            return time.monotonic() - started
        except ServerNotReadyError:
            raise
        except Exception as error:  # not listening yet, or still starting
            last = error
            time.sleep(1.0)
    raise ServerNotReadyError(
        f"no Spark Connect server ready at {url} after {timeout_s:.0f} s"
        + (f" (last error: {type(last).__name__})" if last else " (port closed)")
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url", help="sc://host:port")
    parser.add_argument("--pid", type=int, default=None, help="the server's process id")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds to wait")
    args = parser.parse_args(argv)
    try:
        seconds = wait_ready(args.url, pid=args.pid, timeout_s=args.timeout)
    except ServerNotReadyError as error:
        print(f"spark connect: {error}", file=sys.stderr)
        sys.exit(1)
    print(f"spark connect: ready at {args.url} after {seconds:.1f} s")


if __name__ == "__main__":
    main()
