"""The plain baseline: a ``multiprocessing`` pool over all cores calling pydicom directly.

What a competent engineer writes without the pipeline: per file, ``dcmread`` +
``to_json_dict`` for metadata; decode the middle frame (pydicom's own plugin choice),
modality LUT + VOI LUT/window (``apply_voi_lut``) or a percentile window, and a Pillow
256 px PNG for a thumbnail; for patches, decode every frame, tile it with numpy using the
``patches`` asset's default settings (256 px tiles, no overlap, tiles under 5 %
foreground by Otsu's threshold dropped), PNG for 8-bit tiles and raw bytes otherwise.
Each task returns its own CPU time, so the stage's CPU cost
is exact even though the pool's workers outlive it.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image

Kind = Literal["metadata", "thumbnails", "patches", "end_to_end"]
CHUNK = 8  # files per pool task: amortises IPC, still balances the two workers
# The ``patches`` asset's defaults (``PatchesConfig``): tile size (stride = size) and the
# smallest share of foreground pixels a kept tile has.
PATCH_SIZE = 256
PATCH_MIN_FOREGROUND = 0.05


@dataclass(frozen=True)
class BaselineRun:
    """Outcome of one baseline stage (timing comes from the caller's ``measure()``)."""

    files: int
    errors: int
    worker_cpu_seconds: float
    outputs: int = 0  # thumbnails, JSON documents or tiles made


def metadata_json(path: str) -> str:
    """Header -> DICOM JSON the plain way."""
    import pydicom

    ds = pydicom.dcmread(path, stop_before_pixels=True)
    return json.dumps(ds.to_json_dict())


def thumbnail_png(path: str, max_size: int = 256) -> bytes:
    """Middle frame -> 8-bit display image -> PNG, the plain way."""
    import pydicom
    from pydicom.pixels.processing import apply_color_lut, apply_modality_lut, apply_voi_lut
    from pydicom.pixels.utils import pixel_array

    ds = pydicom.dcmread(path)
    frames = int(ds.get("NumberOfFrames") or 1)
    arr = pixel_array(ds, index=frames // 2) if frames > 1 else ds.pixel_array
    pi = str(ds.get("PhotometricInterpretation", ""))
    if pi == "PALETTE COLOR":
        arr = apply_color_lut(arr, ds)
        arr = (arr >> 8 if arr.dtype.itemsize > 1 else arr).astype(np.uint8)
    elif arr.ndim == 2:
        values = apply_modality_lut(arr, ds).astype(np.float32)
        if "WindowCenter" in ds or "VOILUTSequence" in ds:
            values = apply_voi_lut(values, ds, index=0).astype(np.float32)
        low, high = np.percentile(values, (0.5, 99.5))
        scaled = (values - low) / max(float(high - low), 1e-6) * 255
        arr = np.clip(scaled, 0, 255).astype(np.uint8)
        if pi == "MONOCHROME1":
            arr = 255 - arr
    elif arr.dtype.itemsize > 1:
        arr = (arr >> max(0, int(ds.BitsStored) - 8)).astype(np.uint8)
    image = Image.fromarray(np.ascontiguousarray(arr, dtype=np.uint8))
    image.thumbnail((max_size, max_size))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def patch_tiles(
    path: str, size: int = PATCH_SIZE, min_foreground: float = PATCH_MIN_FOREGROUND
) -> list[bytes]:
    """Every frame -> ``size`` px tiles with enough foreground -> PNG or raw bytes, the
    plain way: foreground is above Otsu's threshold of the frame scaled to 8 bits."""
    import pydicom
    from pydicom.pixels.processing import apply_color_lut

    ds = pydicom.dcmread(path)
    arr = ds.pixel_array
    if int(ds.get("NumberOfFrames") or 1) == 1:
        arr = arr[np.newaxis]
    if str(ds.get("PhotometricInterpretation", "")) == "PALETTE COLOR":
        arr = apply_color_lut(arr, ds)
    tiles: list[bytes] = []
    for frame in arr:
        gray = frame.mean(axis=-1) if frame.ndim == 3 else frame.astype(np.float32)
        low, high = float(gray.min()), float(gray.max())
        gray8 = ((gray - low) * (255 / max(high - low, 1e-6))).astype(np.uint8)
        mask = gray8 > _otsu(gray8)
        for y in range(0, frame.shape[0], size):
            for x in range(0, frame.shape[1], size):
                if mask[y : y + size, x : x + size].mean() < min_foreground:
                    continue
                tile = np.ascontiguousarray(frame[y : y + size, x : x + size])
                if tile.dtype == np.uint8:
                    buf = io.BytesIO()
                    Image.fromarray(tile).save(buf, format="PNG")
                    tiles.append(buf.getvalue())
                else:
                    tiles.append(tile.astype(tile.dtype.newbyteorder("<")).tobytes())
    return tiles


def _otsu(gray: np.ndarray) -> int:
    """Otsu's threshold of a ``uint8`` image (the textbook histogram version)."""
    hist = np.bincount(gray.ravel(), minlength=256).astype(np.float64)
    weight0 = np.cumsum(hist)
    weight1 = weight0[-1] - weight0
    mean_sum = np.cumsum(hist * np.arange(256))
    with np.errstate(divide="ignore", invalid="ignore"):
        mean0 = mean_sum / weight0
        mean1 = (mean_sum[-1] - mean_sum) / weight1
        between = np.nan_to_num(weight0 * weight1 * (mean0 - mean1) ** 2)
    return int(np.argmax(between))


def _both(path: str) -> object:
    metadata_json(path)
    return thumbnail_png(path)


_TASKS: dict[Kind, Callable[[str], object]] = {
    "metadata": metadata_json,
    "thumbnails": thumbnail_png,
    "patches": patch_tiles,
    "end_to_end": _both,
}


def _run_chunk(kind: Kind, paths: Sequence[str]) -> tuple[int, float, int]:
    """Run one chunk in a worker: (errors, CPU seconds, outputs)."""
    warnings.simplefilter("ignore")
    task = _TASKS[kind]
    cpu0 = time.process_time()
    errors = outputs = 0
    for path in paths:
        try:
            out = task(path)
        except Exception:
            errors += 1
            continue
        outputs += len(out) if isinstance(out, list) else 1
    return errors, time.process_time() - cpu0, outputs


def _warm(_: int) -> int:
    import pydicom.pixels  # noqa: F401 - import cost is not per-file work

    return os.getpid()


class BaselinePool:
    """One worker per core, started (and warmed) outside the timed stages.

    Spawned, not forked: the benchmark process may hold a JVM and threads.
    """

    def __init__(self, processes: int | None = None) -> None:
        self.processes = processes or os.cpu_count() or 1
        ctx = multiprocessing.get_context("spawn")
        self._pool = ctx.Pool(self.processes)
        self.pids = frozenset(self._pool.map(_warm, range(self.processes * 2)))

    def run(self, kind: Kind, paths: Sequence[str]) -> BaselineRun:
        chunks = [(kind, paths[i : i + CHUNK]) for i in range(0, len(paths), CHUNK)]
        results = self._pool.starmap(_run_chunk, chunks, chunksize=1)
        return BaselineRun(
            files=len(paths),
            errors=sum(e for e, _, _ in results),
            worker_cpu_seconds=sum(c for _, c, _ in results),
            outputs=sum(o for _, _, o in results),
        )

    def close(self) -> None:
        self._pool.close()
        self._pool.join()
