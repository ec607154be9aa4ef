"""kill -9 in the middle of a write, then rerun and maintenance, on real tables."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import deltalake
import pytest
from dagster import DagsterInstance

from pixels_pipeline.assets.metadata import metadata
from pixels_pipeline.assets.object_catalog import object_catalog
from pixels_pipeline.maintenance import maintenance_job
from pixels_pipeline.resources import LakeResource
from pixels_pipeline.samples import copy_drop, find_test_file
from pixels_pipeline.spark.delta_writer import PAUSE_MARKER

from ..conftest import materialize_drop

pytestmark = [pytest.mark.spark, pytest.mark.dagster, pytest.mark.slow]
DROP = "crashy"
CHILD = Path(__file__).with_name("crash_child.py")


def ingest(instance: DagsterInstance, landing: Path, lake: Path) -> None:
    result = materialize_drop([object_catalog, metadata], DROP, landing, lake, instance=instance)
    assert result.success


def snapshot(lake: Path, table: str) -> Any:
    data = deltalake.DeltaTable(str(lake / table)).to_pyarrow_table()
    return data.drop_columns([c for c in ("ingested_at",) if c in data.column_names]).sort_by(
        "path"
    )


def data_files(table_dir: Path) -> set[str]:
    return {str(p.relative_to(table_dir)) for p in table_dir.rglob("*.parquet")}


def test_sigkill_mid_write_leaves_tables_readable_and_rerun_correct(
    spark: object, tmp_path: Path
) -> None:
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    files = [find_test_file(n) for n in ("CT_small.dcm", "MR_small.dcm", "rtplan.dcm")]
    drop = copy_drop(landing, DROP, [f for f in files if f is not None])
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("drops", [DROP])
    ingest(instance, landing, lake)
    versions = {
        t: deltalake.DeltaTable(str(lake / t)).version() for t in ("object_catalog", "metadata")
    }
    before = data_files(lake / "object_catalog")

    extra = find_test_file("JPEG2000.dcm")
    assert extra is not None
    shutil.copy2(extra, drop / "late.dcm")
    env = {**os.environ, "PIXELS_PIPELINE_PAUSE_BEFORE_COMMIT": "300"}
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(landing), str(lake), DROP],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + 240
    assert child.stderr is not None
    for line in child.stderr:
        if PAUSE_MARKER in line or time.monotonic() > deadline:
            break
    os.killpg(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL

    # The killed run wrote data files but never committed them.
    orphans = data_files(lake / "object_catalog") - before
    assert orphans, "the child was killed before writing anything"
    for table, version in versions.items():
        assert deltalake.DeltaTable(str(lake / table)).version() == version
    assert "late.dcm" not in {
        p.rsplit("/", 1)[-1] for p in snapshot(lake, "object_catalog").column("path").to_pylist()
    }

    # The rerun produces exactly the rows a clean run would.
    ingest(instance, landing, lake)
    clean_lake = tmp_path / "clean_lake"
    ingest(instance, landing, clean_lake)
    for table in ("object_catalog", "metadata"):
        assert snapshot(lake, table).equals(snapshot(clean_lake, table)), table

    # Maintenance removes the orphans and compacts; the history stays visible.
    result = maintenance_job.execute_in_process(
        run_config={"ops": {"compact_and_vacuum_tables": {"config": {"retention_hours": 0}}}},
        resources={"lake": LakeResource(landing=str(landing), lake=str(lake))},
    )
    assert result.success
    remaining = data_files(lake / "object_catalog")
    assert not (orphans & remaining)
    table = deltalake.DeltaTable(str(lake / "object_catalog"))
    assert len(table.file_uris()) == 1  # compacted
    assert len(table.history()) >= 3
    for name in ("object_catalog", "metadata"):
        assert snapshot(lake, name).equals(snapshot(clean_lake, name)), name
