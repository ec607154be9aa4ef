"""The local JVM's class archive: named after the Java runtime and class path it was
recorded with, and mapped by local sessions (Spark and Delta classes come from it)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from pixels_pipeline.spark.class_archive import ARCHIVE_FOLDER_VARIABLE, archive_path

SESSION_SCRIPT = """
import sys
from pixels_pipeline.spark.session import SparkSettings, get_spark, local_conf

options = local_conf("local[*]")["spark.driver.extraJavaOptions"]
assert "-XX:SharedArchiveFile=" in options, options
logged = f"{options} -Xlog:class+load=info:file={sys.argv[1]}"
conf = {"spark.driver.extraJavaOptions": logged, "spark.ui.enabled": "false"}
spark = get_spark(SparkSettings(conf=conf))
spark.range(3).write.format("delta").save(sys.argv[2])
assert spark.read.format("delta").load(sys.argv[2]).count() == 3
"""


def test_archive_name_follows_the_java_runtime_and_the_class_path(tmp_path: Path) -> None:
    jars = [tmp_path / "a.jar", tmp_path / "b.jar"]
    for jar in jars:
        jar.write_bytes(b"PK\x05\x06" + bytes(18))
    class_path = os.pathsep.join(str(j) for j in jars)
    java_home = Path(os.path.realpath(_java_binary())).parent.parent
    env = {"JAVA_HOME": str(java_home), ARCHIVE_FOLDER_VARIABLE: str(tmp_path / "jvm")}

    first = archive_path(class_path, env)
    assert first is not None and first.parent == tmp_path / "jvm"
    assert archive_path(class_path, env) == first  # stable
    jars[1].write_bytes(b"PK\x05\x06" + bytes(30))  # a jar replaced by another version
    assert archive_path(class_path, env) not in (None, first)
    assert archive_path(str(jars[0]), env) not in (None, first)
    no_java = {**env, "JAVA_HOME": str(tmp_path)}  # no bin/java there
    assert archive_path(class_path, no_java) is None


def test_a_local_session_loads_spark_and_delta_from_the_archive(tmp_path: Path) -> None:
    recorded = subprocess.run(
        [sys.executable, "-m", "pixels_pipeline.spark.class_archive"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert recorded.returncode == 0, recorded.stderr[-2000:]
    log = tmp_path / "class-load.log"
    script = tmp_path / "session.py"
    script.write_text(SESSION_SCRIPT)
    run = subprocess.run(
        [sys.executable, str(script), str(log), str(tmp_path / "table")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    sources = dict(re.findall(r"\] (\S+) source: (.+)$", log.read_text(), re.MULTILINE))
    assert sources["org.apache.spark.SparkContext"] == "shared objects file (top)"
    # Lambda proxies are spun at run time: only classes from the jars can be archived.
    delta = {
        c: s
        for c, s in sources.items()
        if c.startswith("org.apache.spark.sql.delta.") and "$$Lambda$" not in c
    }
    shared = [c for c, s in delta.items() if s == "shared objects file (top)"]
    assert len(delta) > 300 and len(shared) > 0.9 * len(delta), (len(shared), len(delta))


def _java_binary() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and Path(home, "bin", "java").is_file():
        return str(Path(home, "bin", "java"))
    found = shutil.which("java")
    assert found, "java is not on PATH"
    return found
