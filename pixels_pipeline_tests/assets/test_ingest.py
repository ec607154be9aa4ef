"""Real Dagster runs of the ingest assets into real Delta tables under tmp_path."""

from pathlib import Path
from typing import Any

import deltalake
import pyarrow as pa
import pytest
from dagster import DagsterInstance

from pixels_pipeline.assets.metadata import metadata
from pixels_pipeline.assets.object_catalog import object_catalog

from ..conftest import TEST_FILES_DROP, all_test_files, materialize_drop

pytestmark = [pytest.mark.spark, pytest.mark.dagster]


def run_ingest(instance: DagsterInstance, landing: Path, lake: Path) -> Any:
    return materialize_drop(
        [object_catalog, metadata], TEST_FILES_DROP, landing, lake, instance=instance
    )


def contents(lake: Path, table: str) -> pa.Table:
    """A table's rows without the per-run timestamp, sorted by path."""
    data = deltalake.DeltaTable(str(lake / table)).to_pyarrow_table()
    if "ingested_at" in data.column_names:
        data = data.drop_columns(["ingested_at"])
    return data.sort_by("path")


@pytest.fixture(scope="module")
def instance() -> DagsterInstance:
    inst = DagsterInstance.ephemeral()
    inst.add_dynamic_partitions("drops", [TEST_FILES_DROP])
    return inst


@pytest.fixture(scope="module")
def ingested(
    spark: object,
    instance: DagsterInstance,
    landing: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, Any]:
    lake = tmp_path_factory.mktemp("lake")
    return lake, run_ingest(instance, landing, lake)


def test_run_succeeds_with_one_row_per_file(ingested: tuple[Path, Any]) -> None:
    lake, result = ingested
    assert result.success
    n = len(all_test_files())
    catalog = contents(lake, "object_catalog")
    meta = contents(lake, "metadata")
    assert catalog.num_rows == n and meta.num_rows == n
    assert len(set(catalog.column("path").to_pylist())) == n
    assert catalog.column("path").to_pylist() == meta.column("path").to_pylist()
    assert set(meta.column("drop_id").to_pylist()) == {TEST_FILES_DROP}


def test_bad_files_become_typed_error_rows(ingested: tuple[Path, Any]) -> None:
    lake, _ = ingested
    meta = contents(lake, "metadata").to_pylist()
    by_name = {r["path"].rsplit("/", 1)[-1]: r for r in meta}
    assert by_name["README.txt"]["error_type"] == "not_dicom"
    assert by_name["zipMR.gz"]["error_type"] == "not_dicom"
    assert by_name["MR_truncated.dcm"]["error_type"] == "truncated"
    assert by_name["rtplan_truncated.dcm"]["error_type"] == "truncated"
    assert by_name["badVR.dcm"]["error_type"] == "invalid_header"
    assert by_name["CT_small.dcm"]["error_type"] is None
    errors = [r for r in meta if r["error_type"]]
    assert all(r["error_message"] for r in errors)
    assert len(errors) < 0.1 * len(meta)


def test_materialization_metadata_and_checks(ingested: tuple[Path, Any]) -> None:
    _, result = ingested
    mats = {
        m.asset_key.path[-1]: m.metadata
        for m in result.get_asset_materialization_events()
        for m in [m.materialization]
    }
    meta = mats["metadata"]
    n = len(all_test_files())
    assert meta["files"].value == n and meta["rows_written"].value == n
    assert meta["errors_by_type"].value["not_dicom"] >= 10
    assert meta["table_version"].value == 1  # CREATE TABLE, then the first write
    assert meta["files_per_s"].value > 0
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["rows_match_catalog"].passed
    assert checks["error_rate"].passed
    # pydicom ships the same image in many encodings: duplicates are reported.
    assert not checks["duplicate_sop_instance_uids"].passed
    assert checks["duplicate_sop_instance_uids"].metadata["duplicate_uids"].value > 0


def test_three_reruns_leave_identical_contents(
    ingested: tuple[Path, Any], instance: DagsterInstance, landing: Path
) -> None:
    lake, _ = ingested
    before = {t: contents(lake, t) for t in ("object_catalog", "metadata")}
    for _ in range(3):
        result = run_ingest(instance, landing, lake)
        assert result.success
        for event in result.get_asset_materialization_events():
            md = event.materialization.metadata
            assert md["files_processed"].value == 0 and not md["committed"].value
    for table, data in before.items():
        assert contents(lake, table).equals(data), table
        # Nothing changed in the drop: no new table version either.
        assert deltalake.DeltaTable(str(lake / table)).version() == 1  # created, written
