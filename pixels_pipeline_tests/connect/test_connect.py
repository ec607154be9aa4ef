"""The same drop through a Spark Connect server (sc://) and in local mode: same tables."""

import json
import os
import subprocess
import sys
from pathlib import Path

import deltalake
import pyarrow as pa
import pytest

from pixels_pipeline.assets.metadata import metadata
from pixels_pipeline.assets.object_catalog import object_catalog
from pixels_pipeline.assets.thumbnails import thumbnails
from pixels_pipeline.resources import SPARK_MASTER_VARIABLE
from pixels_pipeline.samples import copy_drop, find_test_file

from ..conftest import materialize_drop

pytestmark = [pytest.mark.connect, pytest.mark.spark, pytest.mark.dagster]
RUNNER = Path(__file__).with_name("run_on_connect.py")
FILES = ["CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm", "rtplan.dcm", "README.txt"]


def contents(lake: Path, table: str) -> pa.Table:
    data = deltalake.DeltaTable(str(lake / table)).to_pyarrow_table()
    return data.drop_columns(["ingested_at"] if "ingested_at" in data.column_names else [])


def test_connect_run_matches_local(spark: object, connect_url: str, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    found = [find_test_file(n) for n in FILES]
    copy_drop(landing, "remote", [f for f in found if f is not None])
    env = {**os.environ, SPARK_MASTER_VARIABLE: connect_url}
    done = subprocess.run(
        [sys.executable, str(RUNNER), str(landing), str(tmp_path / "remote_lake"), "remote"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {
        "success": True,
        "session_module": "pyspark.sql.connect.session",
        "local_jvm": False,
    }
    assert materialize_drop(
        [object_catalog, metadata, thumbnails], "remote", landing, tmp_path / "local_lake"
    ).success
    for table in ("object_catalog", "metadata", "thumbnails"):
        remote = contents(tmp_path / "remote_lake", table).sort_by("path")
        local = contents(tmp_path / "local_lake", table).sort_by("path")
        assert remote.num_rows == len(FILES) or table == "thumbnails"
        assert remote.equals(local), table
