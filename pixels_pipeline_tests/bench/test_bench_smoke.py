"""The benchmark runs end to end on a tiny drop and writes consistent JSON.

Runs the real CLI in a subprocess: the end-to-end stage stops and starts Spark, which
must not touch the session other tests share. No timing assertions.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pixels_pipeline.assets.patches import PatchesConfig
from pixels_pipeline.bench.baseline import PATCH_MIN_FOREGROUND, PATCH_SIZE
from pixels_pipeline.bench.corpus import available_sources

FILES = 24  # every source file of the mix at least once
ASSETS = "object_catalog,metadata,thumbnails"  # the baseline's work (also the default)
SIDE_KEYS = ("files_per_s", "mb_per_s", "cpu_ms_per_file", "peak_rss_mb", "files", "errors")


def test_patch_baseline_uses_the_asset_defaults() -> None:
    config = PatchesConfig()
    assert (config.size, config.stride) == (PATCH_SIZE, None)
    assert config.min_foreground == PATCH_MIN_FOREGROUND


@pytest.mark.slow
@pytest.mark.spark
def test_benchmark_smoke(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pixels_pipeline.bench",
            "--files",
            str(FILES),
            "--out",
            str(out),
            "--workdir",
            str(tmp_path / "work"),
            "--metadata-repeats",
            "1",
            "--end-to-end-assets",
            ASSETS,
            "--no-latency",  # connect/test_health.py runs bench.latency on its server
        ],
        capture_output=True,
        text=True,
        timeout=900,  # a guard against a hang, not a speed check
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())

    assert result["files"] == FILES
    assert sum(result["corpus_sources"].values()) == FILES
    assert set(result["corpus_sources"]) <= {p.name for p, _ in available_sources()}
    assert result["catalog"]["rows"] == FILES  # the _SUCCESS marker is not cataloged
    assert {"cpus", "load_average"} <= set(result["machine"])
    stages = result["stages"]
    assert {"metadata", "thumbnails", "patches", "end_to_end"} <= set(stages)
    for name, stage in stages.items():
        for side in ("pipeline", "baseline"):
            for key in SIDE_KEYS:
                assert f"{side}_{key}" in stage, (name, side, key)
        assert stage["ratio"] > 0
        assert stage["baseline_files"] == FILES and stage["baseline_errors"] == 0
    # One metadata row and one thumbnail per file, none of them an error.
    for name in ("metadata", "thumbnails", "end_to_end"):
        assert stages[name]["pipeline_files"] == FILES, name
    assert stages["metadata"]["pipeline_errors"] == 0
    assert stages["thumbnails"]["pipeline_errors"] == 0
    # Patches: files/s counts files (rows are tiles); both sides cut tiles of every file.
    patches = stages["patches"]
    assert patches["pipeline_files"] == FILES and patches["pipeline_errors"] == 0
    assert patches["pipeline_details"]["rows"] > FILES
    assert patches["baseline_details"]["outputs"] > FILES
    details = stages["end_to_end"]["pipeline_details"]
    assert details["assets"] == sorted(ASSETS.split(","))
    every = result["end_to_end_all_assets"]  # the extra run with patches and gold, no ratio
    assert every["assets"] == sorted([*ASSETS.split(","), "patches", "series", "studies"])
    assert every["files_per_s"] > 0 and set(every["asset_seconds"]) == set(every["assets"])
    # The late files (1 %, at least one) are all the second run of every asset computes.
    incremental = result["incremental"]
    assert incremental["files_added"] >= 1 and incremental["seconds"] > 0
    assert incremental["asset_seconds"]["metadata"] is not None
    # Frame-by-frame decoding keeps memory bounded: a thumbnail or every patch of the
    # largest multi-frame file needs far less than decoding its whole volume.
    memory = result["memory"]
    assert memory["frames"] > 1
    whole = memory["baseline_whole_volume"]["peak_rss_mb"]
    assert memory["thumbnail"]["peak_rss_mb"] < whole
    assert memory["patches_all_frames"]["peak_rss_mb"] < whole
