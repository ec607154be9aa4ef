"""A lake written by the first (delta-rs) writer is updated in place by Spark's."""

from pathlib import Path
from typing import Any

import deltalake
import pytest
from dagster import DagsterInstance

from pixels_pipeline import api
from pixels_pipeline.assets.metadata import metadata
from pixels_pipeline.assets.object_catalog import object_catalog
from pixels_pipeline.assets.patches import patches
from pixels_pipeline.assets.thumbnails import thumbnails
from pixels_pipeline.samples import find_test_file

from ..conftest import materialize_drop
from ..fixtures.legacy_lake import FILES, LANDING, extract_lake, lay_out_landing
from ..readers import keys_by_reader

pytestmark = [pytest.mark.spark, pytest.mark.dagster]
ASSETS = [object_catalog, metadata, thumbnails, patches]
TABLES = ("object_catalog", "metadata", "thumbnails", "patches")


def materializations(result: Any) -> dict[str, Any]:
    return {
        e.asset_key.path[-1]: e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }


def test_legacy_lake_is_updated_in_place(spark: object, tmp_path: Path) -> None:
    lay_out_landing()
    lake = extract_lake(tmp_path)
    before = {t: deltalake.DeltaTable(str(lake / t)) for t in TABLES}
    assert all(
        "Delta-Lake/" not in str(c.get("engineInfo")) for t in before.values() for c in t.history()
    ), "the fixture must come from the delta-rs writer"
    counts = {t: before[t].to_pyarrow_table().num_rows for t in TABLES}
    added = find_test_file("MR_small_RLE.dcm")
    assert added is not None
    (LANDING / "drop-a" / "late.dcm").write_bytes(added.read_bytes())

    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("drops", list(FILES))
    first = materializations(materialize_drop(ASSETS, "drop-a", LANDING, lake, instance=instance))
    again = materializations(materialize_drop(ASSETS, "drop-b", LANDING, lake, instance=instance))

    # drop-a: only the new file is computed, by a MERGE into the old tables.
    assert first["object_catalog"]["files_processed"].value == 1
    assert first["metadata"]["files_processed"].value == 1
    assert first["metadata"]["rows_kept"].value == len(FILES["drop-a"])
    for table in TABLES:
        assert first[table]["operation"].value == "MERGE", table
    # drop-b: nothing changed, nothing committed.
    assert again["metadata"]["committed"].value is False
    for table in TABLES:
        log = deltalake.DeltaTable(str(lake / table))
        assert log.version() > before[table].version()
        assert "Delta-Lake/" in str(log.history(1)[0].get("engineInfo"))
        config = log.metadata().configuration
        assert config.get("delta.enableDeletionVectors") == "false"
        readers = keys_by_reader(str(lake / table))
        assert readers["delta-rs"] == readers["polars"] == readers["duckdb"], table
        assert len(readers["delta-rs"]) > counts[table] - (table == "patches"), table
    assert (
        deltalake.DeltaTable(str(lake / "metadata"))
        .metadata()
        .configuration.get("delta.enableChangeDataFeed")
        == "true"
    )
    late = [
        r
        for r in deltalake.DeltaTable(str(lake / "metadata")).to_pyarrow_table().to_pylist()
        if r["path"].endswith("/late.dcm")
    ]
    assert len(late) == 1 and late[0]["error_type"] is None and late[0]["modality"] == "MR"
    # The gold tables build on the old metadata table (no typed columns added to it; its
    # first versions have no Change Data Feed, so the first update is a full one).
    rows = deltalake.DeltaTable(str(lake / "metadata")).to_pyarrow_table().to_pylist()
    gold = api.update_gold_table(spark, str(lake), "series")  # type: ignore[arg-type]
    assert gold.mode == "full"
    assert gold.rows == len({r["series_instance_uid"] for r in rows if r["series_instance_uid"]})
