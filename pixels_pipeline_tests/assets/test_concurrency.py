"""Two runs materializing two drops at the same time both land, nothing lost or doubled."""

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import deltalake
import pyarrow as pa
import pytest
from pyspark.sql import SparkSession

from pixels_pipeline.samples import copy_drop, find_test_file
from pixels_pipeline.spark.delta_writer import CommitResult, replace_partitions
from pixels_pipeline.spark.schemas import METADATA, spark_schema

CHILD = Path(__file__).with_name("crash_child.py")


def frame(spark: SparkSession, drop_id: str, n: int) -> Any:
    rows = [
        {
            **dict.fromkeys(METADATA.names),
            "row_id": f"{drop_id}{i}",
            "path": f"/{drop_id}/{i}",
            "drop_id": drop_id,
        }
        for i in range(n)
    ]
    table = pa.Table.from_pylist(rows, schema=METADATA)
    return spark.createDataFrame(table.to_pandas(), spark_schema(METADATA))


@pytest.mark.spark
def test_concurrent_writers_on_a_new_table_both_commit(spark: SparkSession, tmp_path: Path) -> None:
    uri = str(tmp_path / "metadata")
    results: dict[str, CommitResult] = {}
    errors: list[BaseException] = []
    frames = {d: frame(spark, d, 40 + i) for i, d in enumerate(["left", "right", "third"])}

    def write(drop_id: str) -> None:
        try:
            results[drop_id] = replace_partitions(
                frames[drop_id], uri, "metadata", drop_ids=[drop_id]
            )
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(d,)) for d in frames]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    table = deltalake.DeltaTable(uri)
    counts = table.to_pyarrow_table().group_by("drop_id").aggregate([("row_id", "count")])
    assert {r["drop_id"]: r["row_id_count"] for r in counts.to_pylist()} == {
        "left": 40,
        "right": 41,
        "third": 42,
    }
    # Table creation (version 0) and three partition overwrites, none lost.
    assert table.version() == 3
    assert all(r.operation == "WRITE" and not r.skipped for r in results.values())


@pytest.mark.spark
@pytest.mark.dagster
@pytest.mark.slow
def test_two_runs_of_two_drops_at_once_both_land(tmp_path: Path) -> None:
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    names = {"left": ["CT_small.dcm", "MR_small.dcm"], "right": ["rtplan.dcm", "JPEG2000.dcm"]}
    for drop_id, files in names.items():
        found = [find_test_file(f) for f in files]
        copy_drop(landing, drop_id, [f for f in found if f is not None])
    children = [
        subprocess.Popen(
            [sys.executable, str(CHILD), str(landing), str(lake), d],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for d in names
    ]
    for child in children:
        _, err = child.communicate(timeout=600)
        assert child.returncode == 0, err[-3000:]
    for table in ("object_catalog", "metadata"):
        rows = deltalake.DeltaTable(str(lake / table)).to_pyarrow_table().to_pylist()
        got = sorted((r["drop_id"], r["path"].rsplit("/", 1)[-1]) for r in rows)
        assert got == sorted((d, f) for d, fs in names.items() for f in fs), table
