import subprocess
import sys

import pytest
from dagster import AssetKey, BackfillPolicy

from pixels_pipeline.definitions import defs


def test_definitions_load() -> None:
    repo = defs.get_repository_def()
    assert {k.path[-1] for k in repo.asset_graph.get_all_asset_keys()} >= {
        "object_catalog",
        "metadata",
        "series",
        "studies",
    }
    ingest = defs.resolve_job_def("ingest")
    assert {"series", "studies"} <= {k.path[-1] for k in ingest.asset_layer.selected_asset_keys}
    assert defs.resolve_sensor_def("landing_sensor") is not None
    node = repo.asset_graph.get(AssetKey("metadata"))
    assert node.backfill_policy == BackfillPolicy.single_run()
    assert node.partitions_def is not None


def test_definitions_validate_with_cli(tmp_path: object) -> None:
    exe = sys.executable.rsplit("/", 1)[0] + "/dagster"
    done = subprocess.run(
        [exe, "definitions", "validate", "-w", "workspace.yaml"],
        capture_output=True,
        text=True,
        timeout=180,
        env={"PIXELS_LANDING": "/nowhere", "PIXELS_LAKE": "/nowhere", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("pixels_pipeline.dicom.header", ("pyspark", "dagster")),
        ("pixels_pipeline.dicom.render", ("pyspark", "dagster")),
        ("pixels_pipeline.dicom.patches", ("pyspark", "dagster")),
        ("pixels_pipeline.dicom.geometry", ("pyspark", "dagster")),
        ("pixels_pipeline.spark.gold", ("dagster",)),
        ("pixels_pipeline.storage.listing", ("pyspark", "dagster")),
        ("pixels_pipeline.api", ("dagster",)),
    ],
)
def test_import_boundaries(module: str, forbidden: tuple[str, ...]) -> None:
    code = (
        f"import sys, {module}; "
        f"bad = [m for m in sys.modules if m.split('.')[0] in {forbidden!r}]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
