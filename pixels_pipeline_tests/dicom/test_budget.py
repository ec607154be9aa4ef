"""A header declaring more pixels than the budget is ``image_too_large`` before decoding."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

from pixels_pipeline.dicom.budget import PixelBudget, declared_bytes
from pixels_pipeline.dicom.errors import ErrorType, ImageTooLargeError, classify
from pixels_pipeline.dicom.patches import iter_patches
from pixels_pipeline.dicom.render import render_thumbnail
from pixels_pipeline.samples import find_test_file

CT = find_test_file("CT_small.dcm")  # 128 x 128, 16 bits, one frame: 32 KiB of pixels


def declaring(tmp_path: Path, **values: object) -> Path:
    """CT_small with its header changed to declare ``values`` (its pixels unchanged)."""
    assert CT is not None
    ds = pydicom.dcmread(CT)
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    path = tmp_path / "declared.dcm"
    ds.save_as(path)
    return path


def test_declared_sizes() -> None:
    assert CT is not None
    assert declared_bytes(pydicom.dcmread(CT)) == (128 * 128 * 2, 128 * 128 * 2)


@pytest.mark.parametrize(
    "values",
    [
        {"Rows": 65535, "Columns": 65535},  # one 8 GiB frame
        {"NumberOfFrames": 10_000_000},  # 300 GiB in small frames
        {"Rows": 65535, "Columns": 65535, "SamplesPerPixel": 3, "BitsAllocated": 64},
    ],
)
def test_huge_declared_image_is_image_too_large(tmp_path: Path, values: dict[str, object]) -> None:
    path = declaring(tmp_path, **values)
    with pytest.raises(ImageTooLargeError) as thumb:
        render_thumbnail(str(path))
    assert classify(thumb.value)[0] == ErrorType.IMAGE_TOO_LARGE
    with pytest.raises(ImageTooLargeError):
        next(iter_patches(str(path)))


def test_budget_is_configurable() -> None:
    assert CT is not None
    tight = PixelBudget(max_frame_bytes=16 * 1024, max_image_bytes=1 << 30)
    with pytest.raises(ImageTooLargeError):
        render_thumbnail(str(CT), budget=tight)
    with pytest.raises(ImageTooLargeError):
        next(iter_patches(str(CT), budget=PixelBudget(max_image_bytes=16 * 1024)))
    assert render_thumbnail(str(CT), budget=PixelBudget(max_frame_bytes=32 * 1024)).png
