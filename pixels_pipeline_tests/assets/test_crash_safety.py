"""kill -9 in the middle of a write, then rerun and maintenance, on real tables."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import deltalake
import pytest
from dagster import DagsterInstance, Failure

from pixels_pipeline.assets.metadata import metadata
from pixels_pipeline.assets.object_catalog import object_catalog
from pixels_pipeline.maintenance import maintenance_job
from pixels_pipeline.resources import LakeResource, SparkResource
from pixels_pipeline.samples import copy_drop, find_test_file
from pixels_pipeline.spark.delta_writer import PAUSE_MARKER

from ..conftest import materialize_drop

pytestmark = [pytest.mark.spark, pytest.mark.dagster, pytest.mark.slow]
DROP = "crashy"
LATE = "late"
CHILD = Path(__file__).with_name("crash_child.py")


def ingest(instance: DagsterInstance, landing: Path, lake: Path, drop_id: str) -> None:
    result = materialize_drop([object_catalog, metadata], drop_id, landing, lake, instance=instance)
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
    copy_drop(landing, DROP, [f for f in files if f is not None])
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("drops", [DROP, LATE])
    ingest(instance, landing, lake, DROP)
    versions = {
        t: deltalake.DeltaTable(str(lake / t)).version() for t in ("object_catalog", "metadata")
    }
    before = data_files(lake / "object_catalog")

    # Three files: the paused write's first task gets rows however the catalog spreads
    # them (two rows, one per partition, could both land in the paused task).
    extra = [find_test_file(n) for n in ("JPEG2000.dcm", "MR_small_RLE.dcm", "SC_rgb.dcm")]
    copy_drop(landing, LATE, [f for f in extra if f is not None])
    env = {**os.environ, "PIXELS_PIPELINE_PAUSE_BEFORE_COMMIT": "300"}
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(landing), str(lake), LATE],
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
    # The task paused after handing its rows over; wait until Spark has opened its file.
    while not data_files(lake / "object_catalog") - before and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL

    # The killed run's Spark tasks had started writing data files; Delta never committed.
    orphans = data_files(lake / "object_catalog") - before
    assert orphans, "the child was killed before writing anything"
    for table, version in versions.items():
        assert deltalake.DeltaTable(str(lake / table)).version() == version
    assert LATE not in set(snapshot(lake, "object_catalog").column("drop_id").to_pylist())

    # The rerun produces exactly the rows a clean run would.
    clean_lake = tmp_path / "clean_lake"
    for drop_id in (DROP, LATE):
        ingest(instance, landing, lake, drop_id)
        ingest(instance, landing, clean_lake, drop_id)
    for table in ("object_catalog", "metadata"):
        assert snapshot(lake, table).equals(snapshot(clean_lake, table)), table

    # Maintenance: a retention under 24 h is refused unless explicitly allowed.
    with pytest.raises(Failure, match="below 24"):
        maintenance_job.execute_in_process(
            run_config=_maintenance_config(retention_hours=0, allow=False),
            resources=_maintenance_resources(landing, lake),
        )
    # Allowed, it removes the orphans and clusters each drop into one file (OPTIMIZE
    # ZORDER BY); the history stays visible.
    result = maintenance_job.execute_in_process(
        run_config=_maintenance_config(retention_hours=0, allow=True),
        resources=_maintenance_resources(landing, lake),
    )
    assert result.success
    remaining = data_files(lake / "object_catalog")
    assert not (orphans & remaining)
    table = deltalake.DeltaTable(str(lake / "object_catalog"))
    assert len(table.file_uris()) == 2  # one per drop
    operations = [c["operation"] for c in table.history()]
    assert "OPTIMIZE" in operations and operations.count("WRITE") >= 2
    for name in ("object_catalog", "metadata"):
        assert snapshot(lake, name).equals(snapshot(clean_lake, name)), name


def _maintenance_config(*, retention_hours: int, allow: bool) -> dict[str, Any]:
    config = {"retention_hours": retention_hours, "allow_short_retention": allow}
    return {"ops": {"maintenance_settings": {"config": config}}}


def _maintenance_resources(landing: Path, lake: Path) -> dict[str, Any]:
    return {
        "lake": LakeResource(landing=str(landing), lake=str(lake)),
        "spark": SparkResource(master="local[2]", stop_at_teardown=False),
    }
