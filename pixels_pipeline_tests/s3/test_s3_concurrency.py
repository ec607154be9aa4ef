"""Two runs committing to the same S3 tables at once lose no commit: each table's
lake-write pool (dagster.yaml) lets the runs' steps writing that table take turns, as
Delta's S3 log store needs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import datetime
from itertools import pairwise
from pathlib import Path

import deltalake
import pytest
from dagster import DagsterEventType, DagsterInstance, EventRecordsFilter

from pixels_pipeline.samples import find_test_file
from pixels_pipeline.storage.uri import StorageOptions

from .conftest import ensure_bucket, s3_client, upload_drop

pytestmark = [pytest.mark.s3, pytest.mark.spark, pytest.mark.dagster, pytest.mark.slow]
CHILD = Path(__file__).with_name("concurrent_child.py")
ROOT = Path(__file__).resolve().parents[2]
DROPS = {"left": ["CT_small.dcm", "MR_small.dcm"], "right": ["rtplan.dcm", "JPEG2000.dcm"]}


def step_windows(instance: DagsterInstance, run_id: str) -> list[tuple[str, datetime, datetime]]:
    """(step, start, end) of each step of a run, from the instance's event log."""
    starts: dict[str, float] = {}
    windows = []
    for kind in (DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS):
        records = instance.get_event_records(EventRecordsFilter(event_type=kind))
        for record in records:
            entry = record.event_log_entry
            if entry.run_id != run_id or entry.step_key is None:
                continue
            if kind == DagsterEventType.STEP_START:
                starts[entry.step_key] = entry.timestamp
            else:
                windows.append((entry.step_key, starts[entry.step_key], entry.timestamp))
    return [(k, datetime.fromtimestamp(a), datetime.fromtimestamp(b)) for k, a, b in windows]


def test_two_concurrent_runs_on_s3_lose_no_commit(aws_env: str, tmp_path: Path) -> None:
    client = s3_client(aws_env)
    ensure_bucket(client, "pixels-lake")
    for drop_id, names in DROPS.items():
        files = {n: find_test_file(n) for n in names}
        upload_drop(
            client, "pixels-landing", f"conc/{drop_id}", {n: p for n, p in files.items() if p}
        )
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    with DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions("drops", list(DROPS))
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    lake = "s3://pixels-lake/concurrent"
    children = [
        subprocess.Popen(
            [sys.executable, str(CHILD), "s3://pixels-landing/conc", lake, drop_id],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for drop_id in DROPS
    ]
    run_ids = []
    for child in children:
        out, err = child.communicate(timeout=600)
        assert child.returncode == 0, err[-3000:]
        run_ids.append(out.strip().splitlines()[-1])

    options = StorageOptions(endpoint_url=aws_env, region="us-east-1")
    for table in ("object_catalog", "metadata"):
        log = deltalake.DeltaTable(f"{lake}/{table}", storage_options=options.delta_options())
        rows = log.to_pyarrow_table(columns=["drop_id", "path"]).to_pylist()
        got = sorted((r["drop_id"], r["path"].rsplit("/", 1)[-1]) for r in rows)
        assert got == sorted((d, f) for d, fs in DROPS.items() for f in fs), table
        # Every commit is in the log: table creation and one write per run, none overwritten.
        operations = sorted(str(c["operation"]) for c in log.history())
        assert operations == ["CREATE TABLE", "WRITE", "WRITE"], (table, operations)
    # Each table's pool made the runs' steps writing that table take turns.
    with DagsterInstance.from_config(str(home)) as instance:
        windows = [w for run_id in run_ids for w in step_windows(instance, run_id)]
    assert sorted(step for step, _, _ in windows) == sorted(["object_catalog", "metadata"] * 2)
    for table in ("object_catalog", "metadata"):
        spans = sorted((start, end) for step, start, end in windows if step == table)
        for (_, end), (start, _) in pairwise(spans):
            assert end <= start, f"two steps writing {table} overlapped"
