"""The gold assets in one real Dagster run of a drop, after catalog and metadata."""

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from pixels_pipeline.assets.metadata import metadata
from pixels_pipeline.assets.object_catalog import object_catalog
from pixels_pipeline.assets.series import series
from pixels_pipeline.assets.studies import studies
from pixels_pipeline.samples import copy_drop, find_test_file

from ..conftest import materialize_drop
from ..series_files import AXIAL, uid, write_slices

pytestmark = [pytest.mark.spark, pytest.mark.dagster]


def test_ingest_run_fills_gold_tables(spark: SparkSession, tmp_path: Path) -> None:
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    write_slices(
        landing / "drop-1", study="st", series="vol", slices=[((0, 0, z), AXIAL) for z in (0, 2, 4)]
    )
    mr = find_test_file("MR_small.dcm")
    assert mr is not None
    copy_drop(landing, "drop-1", [mr])

    result = materialize_drop([object_catalog, metadata, series, studies], "drop-1", landing, lake)

    assert result.success
    done = {
        e.asset_key.path[-1]: e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    assert done["series"]["mode"].value == "full" and done["series"]["rows"].value == 2
    assert done["studies"]["rows"].value == 2 and done["studies"]["committed"].value
    assert done["series"]["metadata_version"].value == done["metadata"]["table_version"].value
    # The run registered the tables by name; the regular volume is recognised as one.
    row = spark.sql(
        "SELECT instance_count, is_regular_volume, slice_spacing_mean, drop_ids "
        f"FROM pixels.series WHERE series_instance_uid = '{uid('vol')}'"
    ).first()
    assert row is not None and tuple(row) == (3, True, 2.0, ["drop-1"])
