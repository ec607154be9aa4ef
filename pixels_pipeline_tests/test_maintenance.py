"""Maintenance goes on past a table that fails and reports every table."""

from pathlib import Path
from typing import Any

import deltalake
import pytest
from pyspark.sql import SparkSession

from pixels_pipeline import api
from pixels_pipeline.maintenance import maintenance_job
from pixels_pipeline.partitions import lake_write_pool
from pixels_pipeline.resources import LakeResource, SparkResource
from pixels_pipeline.samples import copy_drop, find_test_file

pytestmark = [pytest.mark.spark, pytest.mark.dagster]


def test_a_failing_table_does_not_stop_the_others(spark: SparkSession, tmp_path: Path) -> None:
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    found = [find_test_file(n) for n in ("CT_small.dcm", "MR_small.dcm")]
    drop = copy_drop(landing, "kept", [f for f in found if f is not None])
    catalog = api.catalog(spark, str(drop))
    api.write_table(catalog, str(lake), "object_catalog", drop_ids=["kept"])
    api.write_table(api.metadata_rows(catalog), str(lake), "metadata", drop_ids=["kept"])
    # The first table maintained loses its data file (a damaged table): OPTIMIZE fails.
    for data in (lake / "object_catalog").rglob("*.parquet"):
        data.unlink()

    result = maintenance_job.execute_in_process(
        run_config={"ops": {"maintenance_settings": {"config": {}}}},
        resources={
            "lake": LakeResource(landing=str(landing), lake=str(lake)),
            "spark": SparkResource(master="local[2]", stop_at_teardown=False),
        },
        raise_on_error=False,
    )
    assert not result.success
    # every table's step ran; the report names the damaged table and fails the run
    assert result.output_for_node("maintain_metadata") == "ok"
    assert result.output_for_node("maintain_patches") == "absent"  # never written
    failure = result.failure_data_for_node("maintenance_report")
    assert failure is not None and failure.user_failure_data is not None
    report: Any = failure.user_failure_data.metadata["tables"].value
    assert report["metadata"] == "ok" and report["object_catalog"] != "ok"
    assert set(report) == {"object_catalog", "metadata"}
    operations = [c["operation"] for c in deltalake.DeltaTable(str(lake / "metadata")).history()]
    assert "OPTIMIZE" in operations


def test_each_table_is_maintained_in_its_lake_write_pool() -> None:
    """A table's maintenance never commits while another run's step writes that table
    (the pools of dagster.yaml): its step takes the same pool as the table's asset."""
    pools = {node.name: node.definition.pool for node in maintenance_job.nodes}
    for table in api.TABLES:
        assert pools[f"maintain_{table}"] == lake_write_pool(table)
    assert pools["maintenance_settings"] is None and pools["maintenance_report"] is None
