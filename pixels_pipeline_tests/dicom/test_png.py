"""The PNG encoder round-trips exactly through Pillow's reader."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from pixels_pipeline.dicom.png import encode_png


@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (7, 1), (256, 256), (13, 17, 3), (64, 48, 3)])
def test_round_trip_is_exact(shape: tuple[int, ...]) -> None:
    arr = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    image = Image.open(io.BytesIO(encode_png(arr)))
    assert image.mode == ("L" if len(shape) == 2 else "RGB")
    np.testing.assert_array_equal(np.asarray(image), arr)
    # Views (strided, Fortran order) encode the same pixels.
    np.testing.assert_array_equal(
        np.asarray(Image.open(io.BytesIO(encode_png(np.asfortranarray(arr))))), arr
    )


@pytest.mark.parametrize("level", [0, 1, 2, 3])
def test_every_deflate_level_round_trips(level: int) -> None:
    arr = np.random.default_rng(level).integers(0, 256, (37, 29, 3), dtype=np.uint8)
    arr[:, :10] = 7  # runs as well as noise
    image = Image.open(io.BytesIO(encode_png(arr, level=level)))
    np.testing.assert_array_equal(np.asarray(image), arr)


def test_smooth_images_compress() -> None:
    ramp = np.tile(np.arange(256, dtype=np.uint8), (256, 1))
    assert len(encode_png(ramp)) < ramp.nbytes // 20


@pytest.mark.parametrize(
    "arr",
    [np.zeros((4, 4), np.uint16), np.zeros((4, 4, 4), np.uint8), np.zeros((0, 4), np.uint8)],
)
def test_other_arrays_are_refused(arr: np.ndarray) -> None:
    with pytest.raises(ValueError, match="cannot encode"):
        encode_png(arr)
