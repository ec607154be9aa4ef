"""OPTIMIZE ... ZORDER BY and data skipping on a lake of several drops of real files."""

from pathlib import Path
from typing import Any

import deltalake
import pytest
from pyspark.sql import SparkSession

from pixels_pipeline import api
from pixels_pipeline.samples import copy_drop, find_test_file

pytestmark = pytest.mark.spark
DROPS = {
    "d1": ["CT_small.dcm", "MR_small.dcm"],
    "d2": ["JPEG2000.dcm", "rtplan.dcm"],
    "d3": ["emri_small.dcm", "SC_rgb_jpeg.dcm"],
    "d4": ["US1_J2KR.dcm", "rtdose.dcm"],
}


def files_read(spark: SparkSession, query: str) -> int:
    """Data files the query's scan read (its ``numFiles`` metric), after skipping."""
    spark.conf.set("spark.sql.adaptive.enabled", "false")
    try:
        df = spark.sql(query)
        df.collect()
        plan: Any = df._jdf.queryExecution().executedPlan()
        leaves = plan.collectLeaves().iterator()
        while leaves.hasNext():
            metrics = leaves.next().metrics()
            if metrics.contains("numFiles"):
                return int(metrics.apply("numFiles").value())
    finally:
        spark.conf.unset("spark.sql.adaptive.enabled")
    raise AssertionError("no file scan in the plan")


def test_one_study_reads_a_fraction_of_the_files(spark: SparkSession, tmp_path: Path) -> None:
    landing, lake = tmp_path / "landing", str(tmp_path / "lake")
    drops = []
    for drop_id, names in DROPS.items():
        found = [find_test_file(n) for n in names]
        copy_drop(landing, drop_id, [f for f in found if f is not None])
        drops.append(api.Drop(drop_id, str(landing / drop_id), None))
    # One backfill of the four drops: one commit per table.
    api.update_catalog(spark, lake, drops)
    api.update_table(
        spark,
        lake,
        "metadata",
        lambda c, n: api.metadata_rows(c, num_files=n),
        drop_ids=list(DROPS),
    )
    result = api.maintain_table(spark, lake, "metadata", retention_hours=24)
    assert result.files_added == len(DROPS)  # one clustered file per drop
    api.register_tables(spark, lake)
    total = len(deltalake.DeltaTable(f"{lake}/metadata").file_uris())
    studies = [
        r[0]
        for r in spark.sql(
            "SELECT DISTINCT study_instance_uid FROM pixels.metadata "
            "WHERE drop_id = 'd1' AND study_instance_uid IS NOT NULL"
        ).collect()
    ]
    study = studies[0]
    rows = spark.sql(
        f"SELECT drop_id FROM pixels.metadata WHERE study_instance_uid = '{study}'"
    ).collect()
    assert {r[0] for r in rows} == {"d1"}
    read = files_read(
        spark, f"SELECT sop_instance_uid FROM pixels.metadata WHERE study_instance_uid = '{study}'"
    )
    assert total == len(DROPS)
    assert 1 <= read < total, (read, total)
    history = [r["operation"] for r in api.history(spark, lake, "metadata").collect()]
    assert history[0] == "VACUUM END" and "OPTIMIZE" in history  # VACUUM is logged
