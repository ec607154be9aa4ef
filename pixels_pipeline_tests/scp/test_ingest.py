"""End to end: images sent over DICOM become a drop, the sensor requests its run, and the
ingest assets write the sent instances into the Delta tables."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import deltalake
import pytest
from dagster import DagsterInstance, SensorResult, build_sensor_context
from pydicom import dcmread

from pixels_pipeline.assets.metadata import metadata
from pixels_pipeline.assets.object_catalog import object_catalog
from pixels_pipeline.resources import LakeResource
from pixels_pipeline.sensors import landing_sensor

from ..conftest import materialize_drop
from .conftest import RunningScp
from .senders import AS_SENT, STORESCU, sample_files, send_pynetdicom, storescu, wait_for_drops

pytestmark = [pytest.mark.spark, pytest.mark.dagster]


def test_sent_images_flow_through_the_sensor_into_the_tables(
    spark: object, start_scp: Callable[..., RunningScp], tmp_path: Path
) -> None:
    running = start_scp(allowed_ae_titles=("MODALITY",))
    files = sample_files(*AS_SENT)
    if STORESCU is not None:
        done = storescu(running.port, files, calling_ae="MODALITY", work=tmp_path / "work")
        assert done.returncode == 0, done.stderr
    else:
        assert send_pynetdicom(running.port, files, calling_ae="MODALITY") == [0] * len(files)
    (drop,) = wait_for_drops(running.landing, 1)
    lake = tmp_path / "lake"
    with DagsterInstance.ephemeral() as instance:
        context = build_sensor_context(
            instance=instance,
            cursor=None,
            resources={"lake": LakeResource(landing=str(running.landing), lake=str(lake))},
        )
        tick = landing_sensor(context)
        assert isinstance(tick, SensorResult)
        assert [r.partition_key for r in tick.run_requests or []] == [drop.name]
        (add,) = tick.dynamic_partitions_requests or []
        instance.add_dynamic_partitions("drops", list(add.partition_keys or []))
        result = materialize_drop(
            [object_catalog, metadata], drop.name, running.landing, lake, instance=instance
        )
    assert result.success
    table = deltalake.DeltaTable(str(lake / "metadata")).to_pyarrow_table()
    sent = sorted(str(dcmread(f, stop_before_pixels=True).SOPInstanceUID) for f in files)
    assert sorted(table.column("sop_instance_uid").to_pylist()) == sent
    assert set(table.column("drop_id").to_pylist()) == {drop.name}
    assert table.column("error_type").null_count == table.num_rows
