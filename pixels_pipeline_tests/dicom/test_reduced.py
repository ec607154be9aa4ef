"""Reduced-resolution JPEG 2000 decoding, against pydicom's full decode of the same files."""

from __future__ import annotations

import io
import json
import warnings

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.encaps import get_frame

from pixels_pipeline.dicom.decode import decode_frame
from pixels_pipeline.dicom.reduced import codestream_info, decode_j2k_reduced, reduction_for
from pixels_pipeline.dicom.render import render_thumbnail
from pixels_pipeline.samples import find_test_file

# Every JPEG 2000 test file (pydicom's and pydicom-data's) with a verified codestream:
# 1 component of 10-16 bits signed and unsigned, 3 components with and without MCT.
SUPPORTED = [
    "693_J2KR.dcm",  # CT, 14-bit signed codestream in 16-bit signed data
    "693_J2KI.dcm",
    "MR2_J2KI.dcm",  # 12-bit unsigned
    "RG1_J2KR.dcm",  # 15-bit unsigned, MONOCHROME1
    "RG3_J2KR.dcm",  # 10-bit unsigned
    "emri_small_jpeg_2k_lossless.dcm",  # multi-frame
    "JPEG2000.dcm",
    "MR_small_jp2klossless.dcm",
    "US1_J2KR.dcm",  # YBR_RCT: reversible colour transform
    "US1_J2KI.dcm",  # YBR_ICT: irreversible colour transform
    "SC_rgb_gdcm_KY.dcm",  # RGB without a colour transform
    "examples_jpeg2k.dcm",
]


def _path(name: str) -> str:
    path = find_test_file(name)
    assert path is not None, f"{name} is not installed (pydicom / pydicom-data)"
    return str(path)


def _read(name: str) -> pydicom.Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(_path(name))


def _first_frame(ds: pydicom.Dataset) -> bytes:
    return get_frame(ds.PixelData, 0, number_of_frames=int(ds.get("NumberOfFrames") or 1))


def _reference(ds: pydicom.Dataset) -> np.ndarray:
    arr = ds.pixel_array
    return arr[0] if int(ds.get("NumberOfFrames") or 1) > 1 else arr


@pytest.mark.parametrize("name", SUPPORTED)
def test_full_size_values_equal_pydicoms_decode(name: str) -> None:
    ds = _read(name)
    arr = decode_j2k_reduced(_first_frame(ds), 0)
    assert arr is not None
    np.testing.assert_array_equal(arr.astype(np.int64), _reference(ds).astype(np.int64))


@pytest.mark.parametrize("name", SUPPORTED)
def test_half_size_is_the_low_pass_image(name: str) -> None:
    ds = _read(name)
    full = _reference(ds).astype(np.float64)
    half = decode_j2k_reduced(_first_frame(ds), 1)
    assert half is not None
    rows, cols = full.shape[:2]
    assert half.shape[:2] == (-(-rows // 2), -(-cols // 2))
    # Compare with the 2x2 block means of the full image: the same picture at half size
    # (not equal: the wavelet low-pass is centred on even pixels, the blocks between).
    h, w = rows // 2, cols // 2
    blocks = full[: 2 * h, : 2 * w].reshape(h, 2, w, 2, *full.shape[2:]).mean(axis=(1, 3))
    value_range = float(np.ptp(full)) or 1.0
    diff = np.abs(half[:h, :w].astype(np.float64) - blocks)
    assert diff.mean() / value_range < 0.05
    assert np.corrcoef(half[:h, :w].ravel(), blocks.ravel())[0, 1] > 0.95


def test_codestream_info_reads_siz_and_cod() -> None:
    info = codestream_info(_first_frame(_read("693_J2KR.dcm")))
    assert info is not None
    assert (info.width, info.height, info.components) == (512, 512, 1)
    assert (info.precision, info.signed, info.mct, info.levels) == (14, True, False, 5)
    colour = codestream_info(_first_frame(_read("US1_J2KR.dcm")))
    assert colour is not None and (colour.components, colour.mct) == (3, True)
    assert codestream_info(b"\xff\xd8\xff\xe0 a JPEG, not JPEG 2000") is None


@pytest.mark.parametrize(
    ("rows", "columns", "max_size", "levels", "expected"),
    [
        (512, 512, 256, 5, 1),
        (1024, 256, 256, 5, 2),
        (480, 640, 256, 5, 1),
        (100, 100, 256, 5, 0),
        (4096, 4096, 256, 3, 3),  # capped by the decomposition levels
        (511, 511, 256, 5, 0),  # half would be smaller than the thumbnail
    ],
)
def test_reduction_keeps_the_thumbnail_size(
    rows: int, columns: int, max_size: int, levels: int, expected: int
) -> None:
    assert reduction_for(rows, columns, max_size, levels) == expected


def test_decode_frame_reduces_only_when_asked() -> None:
    path = _path("US1_J2KR.dcm")
    reduced = decode_frame(path, 0, min_size=256)
    assert (reduced.reduction, reduced.arr.shape) == (1, (240, 320, 3))
    assert reduced.photometric_interpretation == "RGB"  # the decoder inverted the RCT
    full = decode_frame(path, 0)
    assert (full.reduction, full.arr.shape) == (0, (480, 640, 3))
    assert decode_frame(path, 0, min_size=480).reduction == 0


@pytest.mark.parametrize("name", ["J2K_pixelrep_mismatch.dcm", "GDCMJ2K_TextGBR.dcm"])
def test_unverified_codestreams_are_decoded_in_full(name: str) -> None:
    """A sign that disagrees with Pixel Representation (pydicom corrects it) and a
    codestream without the expected markers go to the regular decoders."""
    ds = _read(name)
    frame = decode_frame(_path(name), 0, min_size=16)
    assert frame.reduction == 0
    np.testing.assert_array_equal(frame.arr, ds.pixel_array)


@pytest.mark.parametrize(
    ("compressed", "uncompressed"),
    [("693_J2KR.dcm", "693_UNCR.dcm"), ("US1_J2KR.dcm", "US1_UNCR.dcm")],
)
def test_thumbnail_matches_the_uncompressed_files(compressed: str, uncompressed: str) -> None:
    """The same image stored losslessly as JPEG 2000 and uncompressed gives the same
    thumbnail: 2.8 (CT) and 4.8 (US) grey levels apart on average, the difference
    between the wavelet low-pass and a Lanczos resize of the full frame."""
    reduced = render_thumbnail(_path(compressed))
    full = render_thumbnail(_path(uncompressed))
    assert json.loads(reduced.settings)["reduce"] == 1
    assert "reduce" not in json.loads(full.settings)
    a, b = (np.asarray(Image.open(io.BytesIO(t.png)), dtype=np.float64) for t in (reduced, full))
    assert a.shape == b.shape
    assert np.abs(a - b).mean() < 6.0
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.97
