"""Peak memory on the largest multi-frame test file: frame-by-frame vs whole-volume decode.

Each measurement runs in a fresh interpreter, which reports its peak RSS after importing
what it needs and again after the work, so the difference is the work's own memory.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pydicom

from pixels_pipeline.samples import pydicom_data_files, pydicom_test_files

_CHILD = """
import json, resource, sys, warnings
warnings.simplefilter("ignore")
import numpy, pydicom
from pixels_pipeline.dicom.render import render_thumbnail
from pixels_pipeline.dicom.patches import iter_patches
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
path, work = sys.argv[1], sys.argv[2]
if work == "thumbnail":
    render_thumbnail(path)
elif work == "patches":
    for _ in iter_patches(path):
        pass
else:  # the plain way: decode the whole volume, then take the middle frame
    arr = pydicom.dcmread(path).pixel_array
    frame = arr[len(arr) // 2]
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"before_kb": before, "after_kb": after}))
"""


def largest_multiframe() -> tuple[Path, int, float]:
    """(file, frames, decoded volume MB) of the biggest multi-frame image in the test data."""
    best: tuple[Path, int, float] | None = None
    folders = [pydicom_test_files(), pydicom_data_files()]
    for folder in [f for f in folders if f is not None]:
        for path in folder.rglob("*.dcm"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    ds = pydicom.dcmread(path, stop_before_pixels=True)
                    frames = int(ds.get("NumberOfFrames") or 1)
                    size = ds.Rows * ds.Columns * frames * ds.get("SamplesPerPixel", 1)
                    size_mb = size * ((ds.BitsAllocated + 7) // 8) / 1e6
                except Exception:
                    continue
            if frames > 1 and (best is None or size_mb > best[2]):
                best = (path, frames, size_mb)
    if best is None:
        raise RuntimeError("no multi-frame test file found")
    return best


def _peak_mb(path: Path, work: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), work],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    kb = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "peak_rss_mb": round(kb["after_kb"] / 1024, 1),
        "above_imports_mb": round((kb["after_kb"] - kb["before_kb"]) / 1024, 1),
    }


def memory_report() -> dict[str, Any]:
    """Peak RSS of a process that renders the middle frame's thumbnail, cuts every frame
    into patches, or (baseline) decodes the whole volume; ``above_imports_mb`` is the part
    above what the imports alone peaked at (0: the work never exceeded it)."""
    path, frames, volume_mb = largest_multiframe()
    return {
        "file": path.name,
        "frames": frames,
        "decoded_volume_mb": round(volume_mb, 1),
        "thumbnail": _peak_mb(path, "thumbnail"),
        "patches_all_frames": _peak_mb(path, "patches"),
        "baseline_whole_volume": _peak_mb(path, "baseline"),
    }


if __name__ == "__main__":
    print(json.dumps(memory_report(), indent=2))
