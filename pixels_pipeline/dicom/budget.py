"""Bound the pixels a file may make us allocate by what it declares, before decoding.

A header is a few bytes that can declare 65535 x 65535 pixels of 64-bit samples in
millions of frames; decoders allocate what the header says. :func:`check_pixel_budget`
turns a declaration beyond the budget into an ``image_too_large`` error first.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.dataset import Dataset

from pixels_pipeline.dicom.errors import ImageTooLargeError


@dataclass(frozen=True)
class PixelBudget:
    """Most bytes of decoded pixels one file may declare (``Rows x Columns x samples x
    BitsAllocated / 8``, per frame and times ``NumberOfFrames`` for the whole image)."""

    max_frame_bytes: int = 2 * 1024**3  # one decoded frame is held in memory at a time
    max_image_bytes: int = 64 * 1024**3  # every frame (patches decodes them all)


def declared_bytes(ds: Dataset) -> tuple[int, int]:
    """``(bytes per frame, bytes of all frames)`` as the header declares them."""
    rows, columns = _int(ds, "Rows", 0), _int(ds, "Columns", 0)
    samples, bits = _int(ds, "SamplesPerPixel", 1), _int(ds, "BitsAllocated", 8)
    frames = _int(ds, "NumberOfFrames", 1)
    frame = rows * columns * max(samples, 1) * max(bits, 1) // 8
    return frame, frame * max(frames, 1)


def check_pixel_budget(ds: Dataset, budget: PixelBudget, *, name: str) -> None:
    """Raise :class:`ImageTooLargeError` when ``ds`` declares more than ``budget``."""
    frame, image = declared_bytes(ds)
    if frame > budget.max_frame_bytes:
        raise ImageTooLargeError(
            f"{name}: one frame declares {frame} bytes of pixels, over the budget of "
            f"{budget.max_frame_bytes}"
        )
    if image > budget.max_image_bytes:
        raise ImageTooLargeError(
            f"{name}: all frames declare {image} bytes of pixels, over the budget of "
            f"{budget.max_image_bytes}"
        )


def _int(ds: Dataset, keyword: str, default: int) -> int:
    try:
        value = ds.get(keyword)
        return default if value is None or value == "" else max(int(value), 0)
    except (TypeError, ValueError):
        return default
