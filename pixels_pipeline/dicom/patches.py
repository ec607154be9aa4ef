"""Fixed-size tiles (patches) of DICOM frames for deep learning.

What: :func:`iter_patches` yields :class:`Patch` records tile by tile, decoding one
frame at a time (never the whole volume).

Tiling: tiles start at 0, ``stride``, ``2 * stride``, ... along each axis and stop at the
first tile that reaches the border. Tiles at the right and bottom borders keep their true,
smaller width/height (no padding), so with ``stride == size`` the tiles cover every
pixel of a frame exactly once. ``x``/``y`` are the tile's column/row offset: in the
frame, or for whole-slide images (TILED_FULL, or per-frame Plane Position (Slide)) in
the Total Pixel Matrix, where the frame grid gives each frame's offset. Tiles never span
frames, and the padding of edge frames beyond the Total Pixel Matrix is cut off.

Encoding (``Patch.encoding``):

* ``"png"`` when the patch values are ``uint8`` (8-bit grayscale, or RGB): a lossless PNG,
  mode L or RGB; ``dtype``/``shape`` still describe the decoded array.
* ``"raw"`` otherwise (12/16/32-bit, signed): the C-order bytes of the array in
  little-endian byte order; ``dtype`` is the numpy string (e.g. ``'<u2'``, ``'<i2'``) and
  ``shape`` is ``(height, width)`` or ``(height, width, 3)``:
  ``np.frombuffer(p.data, p.dtype).reshape(p.shape)`` restores it.

Values are the stored values as decoded, so nothing is lost: no modality LUT (rescale
slope/intercept stay in the metadata table), no window. Colour is made RGB (YBR is
converted by the decoder as for display) and PALETTE COLOR indices are mapped through
their LUT, because indices mean nothing to a model without the palette.

Foreground score: the fraction of tile pixels that are not background, judged on the
rendered 8-bit frame (:func:`~pixels_pipeline.dicom.render.render_frame`, luminance for
colour). Whole-slide / microscopy images (bright glass background): pixels darker than
:data:`SLIDE_BACKGROUND` (220) are foreground. Other images (dark background): pixels
above the frame's Otsu threshold are foreground; a constant frame has none.
Tiles with ``foreground < min_foreground`` are skipped.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset

from pixels_pipeline.dicom.budget import PixelBudget, check_pixel_budget
from pixels_pipeline.dicom.decode import decode_frame
from pixels_pipeline.dicom.errors import RenderError
from pixels_pipeline.dicom.png import encode_png
from pixels_pipeline.dicom.render import (
    ImageSource,
    frame_count,
    frame_view,
    palette_rgb,
    read_image_header_at,
    render_frame,
    source_label,
)

__all__ = [
    "SLIDE_BACKGROUND",
    "Patch",
    "frame_origins",
    "iter_patches",
    "otsu_threshold",
    "tile_starts",
]

SLIDE_BACKGROUND: Final = 220
"""Luminance at or above which a whole-slide pixel counts as background (glass)."""

_WSI_SOP_CLASS: Final = "1.2.840.10008.5.1.4.1.1.77.1.6"


@dataclass(frozen=True)
class Patch:
    """One tile: where it is, its encoded pixels and how much of it is foreground."""

    frame_index: int
    x: int
    y: int
    width: int
    height: int
    encoding: Literal["png", "raw"]
    data: bytes
    dtype: str
    shape: tuple[int, ...]
    foreground: float


def tile_starts(length: int, size: int, stride: int) -> list[int]:
    """Tile offsets along one axis: 0, stride, ... up to the first tile reaching ``length``."""
    starts: list[int] = []
    start = 0
    while start < length:
        starts.append(start)
        if start + size >= length:
            break
        start += stride
    return starts


def frame_origins(ds: Dataset) -> list[tuple[int, int]] | None:
    """``(x, y)`` of each frame in the Total Pixel Matrix, or None if not a tiled image.

    Per-frame Plane Position (Slide) values win (TILED_SPARSE, 1-based in DICOM);
    otherwise TILED_FULL order: columns fastest, then rows, repeating per focal plane
    and optical path (PS3.3 C.7.6.17.3).
    """
    total_cols, total_rows = ds.get("TotalPixelMatrixColumns"), ds.get("TotalPixelMatrixRows")
    if not total_cols or not total_rows:
        return None
    n = frame_count(ds)
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if (
        per_frame
        and len(per_frame) == n
        and all("PlanePositionSlideSequence" in f for f in per_frame)
    ):
        positions = [f.PlanePositionSlideSequence[0] for f in per_frame]
        return [
            (
                int(p.ColumnPositionInTotalImagePixelMatrix) - 1,
                int(p.RowPositionInTotalImagePixelMatrix) - 1,
            )
            for p in positions
        ]
    if ds.get("DimensionOrganizationType") != "TILED_FULL":
        return None
    cols, rows = int(ds.Columns), int(ds.Rows)
    across = -(-int(total_cols) // cols)
    down = -(-int(total_rows) // rows)
    return [((i % across) * cols, ((i // across) % down) * rows) for i in range(n)]


def otsu_threshold(gray: np.ndarray) -> int | None:
    """Otsu's threshold of a ``uint8`` image: foreground is ``> t``; None if constant."""
    if gray.ndim == 2:  # Pillow's histogram: 3.5x faster than np.bincount
        hist = np.asarray(Image.fromarray(np.ascontiguousarray(gray)).histogram(), np.float64)
    else:
        hist = np.bincount(gray.ravel(), minlength=256).astype(np.float64)
    total = hist.sum()
    weight0 = np.cumsum(hist)
    weight1 = total - weight0
    mean_sum = np.cumsum(hist * np.arange(256))
    valid = (weight0 > 0) & (weight1 > 0)
    if not valid.any():
        return None
    mean0 = np.where(valid, mean_sum / np.maximum(weight0, 1), 0)
    mean1 = np.where(valid, (mean_sum[-1] - mean_sum) / np.maximum(weight1, 1), 0)
    between = np.where(valid, weight0 * weight1 * (mean0 - mean1) ** 2, -1)
    return int(np.argmax(between))


def iter_patches(
    source: ImageSource,
    *,
    size: int = 256,
    stride: int | None = None,
    frames: Sequence[int] | None = None,
    min_foreground: float = 0.0,
    budget: PixelBudget | None = None,
) -> Iterator[Patch]:
    """Yield the tiles of ``frames`` (default: all) of ``source``, one frame decoded at a time.

    A file declaring more pixels than ``budget`` is an ``image_too_large`` error, raised
    before anything is decoded.

    Raises a :class:`~pixels_pipeline.dicom.errors.DicomError` subclass when the file
    cannot be read or a frame cannot be decoded (patches already yielded stay valid).
    """
    step = size if stride is None else stride
    if size < 1 or step < 1:
        raise ValueError("size and stride must be at least 1")
    name = source_label(source)
    ds, offset = read_image_header_at(source, label=name)
    check_pixel_budget(ds, budget or PixelBudget(), name=name)
    n = frame_count(ds)
    indices = range(n) if frames is None else frames
    origins = frame_origins(ds)
    slide = origins is not None or ds.get("SOPClassUID") == _WSI_SOP_CLASS
    total = (int(ds.get("TotalPixelMatrixColumns") or 0), int(ds.get("TotalPixelMatrixRows") or 0))
    # Without per-frame functional groups every frame has the same display attributes.
    shared_view = None if "PerFrameFunctionalGroupsSequence" in ds else frame_view(ds, 0)
    for index in indices:
        if not 0 <= index < n:
            raise RenderError(f"{name}: frame {index} out of range ({n} frames)")
        frame = decode_frame(source, index, label=name, header=(ds, offset))
        view = shared_view if shared_view is not None else frame_view(ds, index)
        pi = frame.photometric_interpretation
        values = _patch_values(view, frame.arr, pi)
        mask = _foreground_mask(ds, frame.arr, pi, index, view=view, slide=slide)
        x0, y0 = origins[index] if origins is not None else (0, 0)
        height, width = values.shape[:2]
        if origins is not None:  # cut the padding of edge frames beyond the matrix
            width = max(0, min(width, total[0] - x0))
            height = max(0, min(height, total[1] - y0))
        for ty in tile_starts(height, size, step):
            for tx in tile_starts(width, size, step):
                h, w = min(size, height - ty), min(size, width - tx)
                foreground = float(mask[ty : ty + h, tx : tx + w].mean())
                if foreground < min_foreground:
                    continue
                yield _make_patch(
                    values[ty : ty + h, tx : tx + w], index, x0 + tx, y0 + ty, foreground
                )


def _patch_values(view: Dataset, arr: np.ndarray, pi: str) -> np.ndarray:
    if pi.strip().upper() == "PALETTE COLOR":
        return palette_rgb(arr, view)
    return arr


def _foreground_mask(
    ds: Dataset, arr: np.ndarray, pi: str, index: int, *, view: Dataset, slide: bool
) -> np.ndarray:
    image = render_frame(ds, arr, photometric_interpretation=pi, frame_index=index, view=view)
    gray = np.asarray(Image.fromarray(image).convert("L")) if image.ndim == 3 else image
    if slide:
        return gray < SLIDE_BACKGROUND
    threshold = otsu_threshold(gray)
    if threshold is None:
        return np.zeros(gray.shape, dtype=bool)
    return gray > threshold


def _make_patch(tile: np.ndarray, index: int, x: int, y: int, foreground: float) -> Patch:
    tile = np.ascontiguousarray(tile)
    if tile.dtype == np.uint8 and (tile.ndim == 2 or tile.shape[-1] == 3):
        encoding: Literal["png", "raw"] = "png"
        data = encode_png(tile)
    else:
        tile = tile.astype(tile.dtype.newbyteorder("<"), copy=False)
        encoding, data = "raw", tile.tobytes()
    return Patch(
        frame_index=index,
        x=x,
        y=y,
        width=tile.shape[1],
        height=tile.shape[0],
        encoding=encoding,
        data=data,
        dtype=tile.dtype.str,
        shape=tuple(tile.shape),
        foreground=foreground,
    )
