"""Start a Spark Connect server that serves Delta Lake: ``python -m
pixels_pipeline.spark.connect_server --port 15002``; then ``PIXELS_SPARK_MASTER=sc://HOST:PORT``.

The server owns the JVM settings a Connect client cannot set: the Delta jars, the Delta
SQL extension and catalog, memory. It runs from the pyspark package (a complete Spark
distribution), so nothing else needs installing.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import pyspark

from pixels_pipeline.spark.jars import jar_conf
from pixels_pipeline.spark.session import local_conf, server_conf

__all__ = ["server_command"]

_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"


def server_command(port: int, *, host: str = "127.0.0.1", master: str = "local[*]") -> list[str]:
    """``spark-submit`` arguments of a Delta-enabled Spark Connect server."""
    spark_home = Path(pyspark.__file__).parent
    # A local server's one JVM moves Arrow batches for the Python workers: see LOCAL_JAVA_OPTIONS.
    local = local_conf(master)
    conf = {
        **server_conf(),
        **local,
        **jar_conf(master),
        "spark.connect.grpc.binding.port": str(port),
        "spark.connect.grpc.binding.address": host,
    }
    args = [str(spark_home / "bin" / "spark-submit"), "--class", _CLASS, "--master", master]
    for key, value in conf.items():
        args += ["--conf", f"{key}={value}"]
    return [*args, "spark-internal"]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=15002)
    parser.add_argument("--master", default="local[*]")
    args = parser.parse_args(argv)
    os.environ.setdefault("SPARK_HOME", str(Path(pyspark.__file__).parent))
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    command = server_command(args.port, host=args.host, master=args.master)
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
