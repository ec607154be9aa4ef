"""Re-drops: added, deleted and rewritten files, on real Spark, Delta and Dagster runs."""

import os
import shutil
from pathlib import Path
from typing import Any

import deltalake
import pytest
from dagster import DagsterInstance

from pixels_pipeline.assets.metadata import metadata
from pixels_pipeline.assets.object_catalog import object_catalog
from pixels_pipeline.assets.thumbnails import thumbnails
from pixels_pipeline.samples import copy_drop, find_test_file

from ..conftest import materialize_drop

pytestmark = [pytest.mark.spark, pytest.mark.dagster]
DROP = "redrop"
FIRST = ["CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm", "rtplan.dcm", "README.txt"]


def run(instance: DagsterInstance, landing: Path, lake: Path) -> Any:
    result = materialize_drop(
        [object_catalog, metadata, thumbnails], DROP, landing, lake, instance=instance
    )
    assert result.success
    return {
        e.asset_key.path[-1]: e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }


def table(lake: Path, name: str) -> dict[str, dict[str, Any]]:
    rows = deltalake.DeltaTable(str(lake / name)).to_pyarrow_table().to_pylist()
    keyed = {r["relative_path"] if "relative_path" in r else r["path"]: r for r in rows}
    assert len(keyed) == len(rows), f"duplicate rows in {name}"
    return keyed


def on_disk(drop: Path) -> set[str]:
    return {str(p.relative_to(drop)) for p in drop.rglob("*") if p.is_file()} - {"_SUCCESS"}


def test_redrop_processes_only_changes(spark: object, tmp_path: Path) -> None:
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    sources = [find_test_file(n) for n in FIRST]
    drop = copy_drop(landing, DROP, [p for p in sources if p is not None])
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("drops", [DROP])
    first = run(instance, landing, lake)
    assert first["metadata"]["files_processed"].value == len(FIRST)
    before = table(lake, "metadata")

    # One file added, one deleted, one rewritten with other content, _SUCCESS re-touched.
    added = find_test_file("US1_J2KR.dcm") or find_test_file("SC_rgb.dcm")
    assert added is not None
    shutil.copy2(added, drop / "added.dcm")
    (drop / "README.txt").unlink()
    rewritten = find_test_file("MR_small_RLE.dcm")
    assert rewritten is not None
    shutil.copyfile(rewritten, drop / "CT_small.dcm")
    os.utime(drop / "CT_small.dcm", (1_900_000_000, 1_900_000_000))
    (drop / "_SUCCESS").write_text("")

    second = run(instance, landing, lake)
    assert second["object_catalog"]["files_processed"].value == 2  # added + rewritten
    assert second["object_catalog"]["rows_removed"].value == 2  # deleted + old version
    assert second["metadata"]["files_processed"].value == 2
    assert second["metadata"]["rows_kept"].value == len(FIRST) - 2
    assert second["thumbnails"]["files_processed"].value == 2

    catalog = table(lake, "object_catalog")
    assert set(catalog) == on_disk(drop)
    meta = {p.rsplit("/", 1)[-1]: r for p, r in table(lake, "metadata").items()}
    assert set(meta) == on_disk(drop)
    assert meta["CT_small.dcm"]["modality"] == "MR"  # the new content
    assert meta["added.dcm"]["error_type"] is None
    untouched = next(p for p in before if p.endswith("/MR_small.dcm"))
    assert meta["MR_small.dcm"] == before[untouched]  # kept, not recomputed
    thumbs = {p.rsplit("/", 1)[-1] for p in table(lake, "thumbnails")}
    assert thumbs == on_disk(drop) - {"README.txt"}
    for name in ("object_catalog", "metadata", "thumbnails"):
        fingerprints = {r["fingerprint"] for r in table(lake, name).values()}
        assert fingerprints <= {r["fingerprint"] for r in catalog.values()}
