"""The JVM jars the pipeline adds to pyspark's own: Delta Lake and ``s3a://``.

``.ci/setup`` copies them once from Maven Central into ``$PIXELS_SPARK_JARS`` (default
``~/.cache/pixels_pipeline/spark-jars``; the list is ``.ci/jars/pom.xml``), so a session
start never downloads. Offline, copy the same jars into a folder and point
``PIXELS_SPARK_JARS`` at it. Without the folder, Spark's own resolver is asked for the
Maven coordinates (``spark.jars.packages``: ``~/.m2``, its Ivy cache, then Maven Central).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["DELTA_VERSION", "JAR_FOLDER_VARIABLE", "MAVEN_PACKAGES", "MissingJarsError", "jar_conf"]

DELTA_VERSION = "4.4.0"  # io.delta:delta-spark_4.2_2.13 for pyspark 4.2.0
JAR_FOLDER_VARIABLE = "PIXELS_SPARK_JARS"
MAVEN_PACKAGES = (
    f"io.delta:delta-spark_4.2_2.13:{DELTA_VERSION}",
    "org.apache.hadoop:hadoop-aws:3.5.0",
    "software.amazon.awssdk:bundle:2.35.4",
    "software.amazon.s3.analyticsaccelerator:analyticsaccelerator-s3:1.3.1",
)
_REQUIRED = (f"delta-spark_4.2_2.13-{DELTA_VERSION}.jar", f"delta-storage-{DELTA_VERSION}.jar")


class MissingJarsError(RuntimeError):
    """The Delta Lake jars are neither in the jar folder nor resolvable from Maven."""


def default_jar_folder() -> Path:
    return Path.home() / ".cache" / "pixels_pipeline" / "spark-jars"


def jar_conf(master: str, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The cached jars on the driver's class path (``local`` masters: the driver is the
    executor) or in ``spark.jars`` (clusters: shipped to executors); without the
    folder, ``spark.jars.packages``.

    Read when a session starts (not at import), from ``env`` (default ``os.environ``).
    ``spark.jars`` would make even a local session copy and index the jars (the AWS SDK
    bundle alone is 690 MB) before its first task: 50 s instead of 16 s to start here.
    """
    environ = os.environ if env is None else env
    configured = environ.get(JAR_FOLDER_VARIABLE)
    folder = Path(configured) if configured else default_jar_folder()
    jars = sorted(folder.glob("*.jar")) if folder.is_dir() else []
    names = {j.name for j in jars}
    if all(r in names for r in _REQUIRED):
        if master.startswith("local"):
            return {"spark.driver.extraClassPath": os.pathsep.join(str(j) for j in jars)}
        return {"spark.jars": ",".join(str(j) for j in jars)}
    if configured:
        raise MissingJarsError(
            f"{JAR_FOLDER_VARIABLE}={folder} lacks {[r for r in _REQUIRED if r not in names]}: "
            "run `bash .ci/setup` (Maven) or copy the jars of .ci/jars/pom.xml there"
        )
    return {"spark.jars.packages": ",".join(MAVEN_PACKAGES)}


def explain_start_failure(error: Exception, conf: Mapping[str, str]) -> Exception:
    """A session start that failed while Spark resolved packages: say what to do."""
    if "spark.jars.packages" not in conf:
        return error
    return MissingJarsError(
        "Spark could not resolve the Delta Lake jars from Maven "
        f"({', '.join(MAVEN_PACKAGES)}). Online: run `bash .ci/setup` once (it caches them "
        f"in {default_jar_folder()}). Offline: copy those jars and their runtime "
        f"dependencies into a folder and set {JAR_FOLDER_VARIABLE} to it. ({error})"
    )
