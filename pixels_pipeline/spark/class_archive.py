"""A class-data-sharing archive for the local Spark JVM (driver and executor in one).

A local JVM spends its first seconds loading and verifying the classes of Spark, Delta
and their dependencies, every time: each `dagster asset materialize`, each run of the
in-process executor, each Connect server. JDK 17 can store those classes, parsed and
verified, in a dynamic CDS archive that later JVMs map at start
(``-XX:SharedArchiveFile``). Measured on 2 cores, a fresh process cataloging a 10-file
drop into a new lake: session start 6.2 -> 3.4 s, first catalog write 12-13 -> 8.9 s,
the whole script 19.5-21.9 -> 13.8-14.0 s.

``python -m pixels_pipeline.spark.class_archive`` records the archive once (``.ci/setup``
runs it): a small pipeline over sample DICOM files in a JVM started with
``-XX:ArchiveClassesAtExit``, written to a temporary name and renamed when the JVM has
exited. The archive's name is a digest of the Java runtime and the class path it was
recorded with, so a changed pyspark, jar folder or JDK gets a new one. A session uses the
archive only when it exists; a JVM that cannot map it (another JDK build) warns and
starts without it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pyspark
from pyspark.sql import DataFrame

ARCHIVE_FOLDER_VARIABLE = "PIXELS_JVM_ARCHIVE_DIR"


def archive_folder(env: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if env is None else env
    configured = environ.get(ARCHIVE_FOLDER_VARIABLE)
    return Path(configured) if configured else Path.home() / ".cache" / "pixels_pipeline" / "jvm"


def _java(env: Mapping[str, str]) -> Path | None:
    """The java binary spark-submit runs: ``$JAVA_HOME/bin/java``, else the one on PATH."""
    home = env.get("JAVA_HOME")
    found = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    return Path(found).resolve() if found and Path(found).is_file() else None


def _class_path_files(extra_class_path: str) -> Iterator[Path]:
    yield from (Path(p) for p in extra_class_path.split(os.pathsep) if p)
    yield from sorted((Path(pyspark.__file__).parent / "jars").glob("*.jar"))


def archive_path(extra_class_path: str, env: Mapping[str, str] | None = None) -> Path | None:
    """Where the archive for this Java runtime and class path lives (whether or not it
    exists yet); None without a java binary."""
    environ = os.environ if env is None else env
    java = _java(environ)
    if java is None:
        return None
    digest = hashlib.sha256()
    for path in [java, *_class_path_files(extra_class_path)]:
        try:
            stat = path.stat()
        except OSError:
            continue
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return archive_folder(environ) / f"spark-{digest.hexdigest()[:20]}.jsa"


def archive_option(extra_class_path: str, env: Mapping[str, str] | None = None) -> str:
    """``-XX:SharedArchiveFile=...`` when the archive was recorded, else empty."""
    path = archive_path(extra_class_path, env)
    return f"-XX:SharedArchiveFile={path}" if path is not None and path.is_file() else ""


def record(*, timeout_s: float = 600.0) -> Path | None:
    """Record the archive for the local class path if it is missing (a no-op otherwise);
    returns its path, None without a java binary. Must run in a process that has not
    started Spark yet: the recording JVM is this process's session."""
    final = archive_path(_local_class_path())
    if final is None or final.is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = final.with_name(f".{final.name}.{os.getpid()}.partial")
    try:
        _run_workload(partial, timeout_s)
        if not partial.is_file() or partial.stat().st_size == 0:
            raise RuntimeError("the JVM exited without writing its class archive")
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)
    return final


def _local_class_path() -> str:
    from pixels_pipeline.spark.jars import jar_conf

    return jar_conf("local[*]").get("spark.driver.extraClassPath", "")


def _run_workload(dump_to: Path, timeout_s: float) -> None:
    """Every kind of step the assets run (catalog, silver tables by overwrite then by
    ``MERGE``, gold tables on both paths, SQL by name) over a few sample files, in a JVM
    that writes the classes it loaded to ``dump_to`` when it exits."""
    from pixels_pipeline import api
    from pixels_pipeline.samples import SAMPLE_DROPS, copy_drop, find_test_file
    from pixels_pipeline.spark.gold_driver import DRIVER_MAX_ROWS
    from pixels_pipeline.spark.session import LOCAL_JAVA_OPTIONS

    # The dump warns about every class it cannot archive (lambda proxies, signed jars).
    options = f"{LOCAL_JAVA_OPTIONS} -XX:ArchiveClassesAtExit={dump_to} -Xlog:cds*=error"
    files = [p for names in SAMPLE_DROPS.values() for p in map(find_test_file, names) if p]
    with tempfile.TemporaryDirectory(prefix="pixels-class-archive-") as tmp:
        landing, lake = Path(tmp) / "landing", str(Path(tmp) / "lake")
        copy_drop(landing, "warm", files[1:])
        spark = api.get_spark(
            api.SparkSettings(
                conf={"spark.driver.extraJavaOptions": options, "spark.ui.enabled": "false"}
            )
        )
        drops = [api.Drop("warm", str(landing / "warm"), None)]
        builders: dict[str, Callable[[DataFrame, int], api.Rows]] = {
            "metadata": lambda c, n: api.metadata_rows(c, num_files=n),
            "thumbnails": lambda c, n: api.thumbnail_rows(c, num_files=n),
            "patches": lambda c, n: api.patch_rows(c, num_files=n),
        }
        for driver_max_rows in (DRIVER_MAX_ROWS, 0):  # overwrite first, then MERGE
            api.update_catalog(spark, lake, drops)
            for table, build in builders.items():
                api.update_table(spark, lake, table, build, drop_ids=["warm"])
            for gold in ("series", "studies"):
                api.update_gold_table(spark, lake, gold, driver_max_rows=driver_max_rows)
            copy_drop(landing, "warm", files[:1])
        api.register_tables(spark, lake)
        spark.sql("SELECT modality, count(*) FROM pixels.metadata GROUP BY modality").collect()
        gateway = spark.sparkContext._gateway
        spark.stop()
        _stop_jvm(gateway, timeout_s)


def _stop_jvm(gateway: object, timeout_s: float) -> None:
    """End the session's JVM and wait until it has exited (it writes the archive then)."""
    from pyspark import SparkContext

    proc = getattr(gateway, "proc", None)
    getattr(gateway, "shutdown", lambda: None)()
    SparkContext._gateway = None
    SparkContext._jvm = None
    if proc is not None:
        if proc.stdin is not None:
            proc.stdin.close()  # the JVM exits when its Python driver's pipe closes
        proc.wait(timeout=timeout_s)


def main() -> None:
    present = (p := archive_path(_local_class_path())) is not None and p.is_file()
    started = time.perf_counter()
    path = record()
    if path is None:
        print("JVM class archive: none (no java binary found)")
    elif present:
        print(f"JVM class archive: {path}")
    else:
        print(f"JVM class archive: {path} (recorded in {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
