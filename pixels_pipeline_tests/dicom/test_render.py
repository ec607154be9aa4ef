"""The display pipeline on real files, against expectations computed independently here."""

from __future__ import annotations

import collections
import io
import json
import os
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file, get_testdata_files

from pixels_pipeline.dicom.decode import decode_frame
from pixels_pipeline.dicom.errors import (
    DicomError,
    NoPixelDataError,
    NotDicomError,
    TruncatedError,
)
from pixels_pipeline.dicom.render import (
    _render_grayscale,
    frame_count,
    frame_view,
    render_frame,
    render_thumbnail,
)


def _path(name: str) -> str:
    path = get_testdata_file(name)
    assert path is not None, name
    return str(path)


def _read(name: str) -> pydicom.Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(_path(name))


def _png(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)))


def _linear_window(x: np.ndarray, center: float, width: float) -> np.ndarray:
    """PS3.3 C.11.2.1.2.1 (VOI LUT Function LINEAR) to an 8-bit output range."""
    x = x.astype(np.float64)
    low = center - 0.5 - (width - 1) / 2
    high = center - 0.5 + (width - 1) / 2
    y = ((x - (center - 0.5)) / (width - 1) + 0.5) * 255
    return np.where(x <= low, 0.0, np.where(x > high, 255.0, y))


def test_monochrome1_cr_is_inverted() -> None:
    name = "dicomdirtests/77654033/CR1/6154"
    ds = _read(name)
    assert ds.PhotometricInterpretation == "MONOCHROME1"
    stored = ds.pixel_array
    values = stored * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    expected = 255 - _linear_window(values, float(ds.WindowCenter), float(ds.WindowWidth))
    image = render_frame(ds, stored)
    assert image.dtype == np.uint8
    assert np.abs(image.astype(float) - expected).max() <= 1
    # brighter stored values are darker on screen
    assert image.flat[np.argmax(stored)] < image.flat[np.argmin(stored)]
    thumb = render_thumbnail(_path(name))
    assert json.loads(thumb.settings)["inverted"] is True
    np.testing.assert_array_equal(_png(thumb.png), image)  # 16x16: no resize


@pytest.mark.parametrize("name", ["MR_small.dcm", "dicomdirtests/77654033/CT2/17106"])
def test_window_matches_ps3_3_formula(name: str) -> None:
    ds = _read(name)
    stored = ds.pixel_array
    values = stored * float(ds.get("RescaleSlope", 1)) + float(ds.get("RescaleIntercept", 0))
    center = float(ds.WindowCenter[0] if ds["WindowCenter"].VM > 1 else ds.WindowCenter)
    width = float(ds.WindowWidth[0] if ds["WindowWidth"].VM > 1 else ds.WindowWidth)
    expected = _linear_window(values, center, width)
    image = render_frame(ds, stored)
    rng = np.random.default_rng(0)
    rows, cols = rng.integers(0, stored.shape[0], 50), rng.integers(0, stored.shape[1], 50)
    np.testing.assert_allclose(image[rows, cols], expected[rows, cols], atol=1)
    assert {0, 255} >= set(np.unique(image[values <= center - width / 2]).tolist())
    settings = json.loads(render_thumbnail(_path(name)).settings)
    assert settings["voi"] == "window" and settings["center"] == center


def _bar_means(arr: np.ndarray) -> np.ndarray:
    """Mean colour inside each 10-row band (the SC_rgb files are horizontal colour bars);
    the band edges are left out, where lossy chroma subsampling blurs neighbouring bars."""
    means: np.ndarray = arr.reshape(10, 10, -1, 3)[:, 2:8].mean(axis=(1, 2))
    return means


@pytest.mark.parametrize(
    "name",
    [
        "SC_rgb_dcmtk_+eb+cy+np.dcm",  # JPEG baseline YBR_FULL_422
        "SC_rgb_dcmtk_+eb+cy+s2.dcm",  # JPEG baseline YBR_FULL_422
        "SC_rgb_jpeg_dcmtk.dcm",  # JPEG baseline YBR_FULL
        "SC_ybr_full_422_uncompressed.dcm",  # native YBR_FULL_422
        "SC_rgb_jpeg_gdcm.dcm",  # lossless JPEG RGB (gdcm route)
        "SC_rgb_32bit.dcm",  # 32-bit samples
        "SC_rgb_expb_16bit.dcm",  # big endian 16-bit samples
        "SC_rgb_rle_16bit.dcm",
    ],
)
def test_colour_files_match_the_uncompressed_rgb_reference(name: str) -> None:
    reference = _read("SC_rgb.dcm").pixel_array.astype(float)
    thumb = render_thumbnail(_path(name))
    image = _png(thumb.png)
    assert image.shape == (100, 100, 3)
    np.testing.assert_allclose(
        image.reshape(-1, 3).mean(0), reference.reshape(-1, 3).mean(0), atol=4
    )
    np.testing.assert_allclose(_bar_means(image), _bar_means(reference), atol=12)


def test_planar_configuration_does_not_change_the_picture() -> None:
    by_pixel = _png(render_thumbnail(_path("color-px.dcm")).png)
    by_plane = _png(render_thumbnail(_path("color-pl.dcm")).png)
    assert _read("color-pl.dcm").PlanarConfiguration == 1
    np.testing.assert_array_equal(by_pixel, by_plane)


def test_palette_colour_goes_through_its_lut() -> None:
    ds = _read("OBXXXX1A.dcm")
    indices = ds.pixel_array
    image = render_frame(ds, indices)
    assert image.shape == (*indices.shape, 3)
    first = int(ds.RedPaletteColorLookupTableDescriptor[1])
    luts = [
        np.frombuffer(ds[f"{c}PaletteColorLookupTableData"].value, "<u2")
        for c in ("Red", "Green", "Blue")
    ]
    rng = np.random.default_rng(1)
    for r, c in zip(rng.integers(0, 600, 40), rng.integers(0, 800, 40), strict=True):
        entry = min(max(int(indices[r, c]) - first, 0), len(luts[0]) - 1)
        assert [int(image[r, c, k]) for k in range(3)] == [int(lut[entry]) >> 8 for lut in luts]
    assert json.loads(render_thumbnail(_path("OBXXXX1A.dcm")).settings)["color"] == "palette"


def test_one_bit_data_is_black_and_white() -> None:
    ds = _read("liver_1frame.dcm")
    image = render_frame(ds, ds.pixel_array)
    np.testing.assert_array_equal(image, np.where(ds.pixel_array == 1, 255, 0))


def test_signed_percentile_window_without_window_attributes() -> None:
    ds = _read("CT_small.dcm")  # signed, rescaled, no window: robust percentile window
    assert "WindowCenter" not in ds and ds.PixelRepresentation == 1
    values = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    low, high = np.percentile(values, [0.5, 99.5])
    image = render_frame(ds, ds.pixel_array)
    assert (image[values <= low] == 0).all() and (image[values >= high] == 255).all()
    inside = (values > low) & (values < high)
    expected = (values[inside] - low) / (high - low) * 255
    assert np.abs(image[inside] - expected).max() <= 1


def test_thumbnail_size_aspect_and_middle_frame() -> None:
    big = render_thumbnail(_path("RG1_UNCI.dcm"))  # 1955 x 1841 MONOCHROME1
    assert (big.rows, big.columns) == (1955, 1841)
    assert (big.height, big.width) == (256, round(1841 * 256 / 1955))
    assert Image.open(io.BytesIO(big.png)).size == (big.width, big.height)
    small = render_thumbnail(_path("MR_small.dcm"), max_size=512)
    assert (small.width, small.height) == (64, 64)  # never upscaled
    multi = render_thumbnail(_path("emri_small.dcm"))
    assert (multi.number_of_frames, multi.frame_index) == (10, 5)
    chosen = render_thumbnail(_path("emri_small.dcm"), frame_index=2, max_size=32)
    assert chosen.frame_index == 2 and (chosen.width, chosen.height) == (32, 32)


def test_sources_and_typed_errors() -> None:
    path = _path("MR_small.dcm")
    with open(path, "rb") as f:
        from_file = render_thumbnail(f)
        data = f.read() if f.seek(0) == 0 else b""
    assert from_file.png == render_thumbnail(path).png == render_thumbnail(data).png
    with pytest.raises(NoPixelDataError):
        render_thumbnail(_path("rtplan.dcm"))
    with pytest.raises(NoPixelDataError):
        render_thumbnail(_path("test-SR.dcm"))
    with pytest.raises(NotDicomError):
        render_thumbnail(_path("README.txt"))
    with pytest.raises(TruncatedError):
        render_thumbnail(_path("MR_truncated.dcm"))


def test_every_test_file_renders_or_raises_a_dicom_error() -> None:
    files = sorted(p for p in get_testdata_files() if os.path.isfile(p))
    assert len(files) > 200
    outcomes: collections.Counter[str] = collections.Counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in files:
            try:
                thumb = render_thumbnail(path, max_size=128)
            except DicomError as exc:
                outcomes[exc.error_type.value] += 1
                continue
            image = Image.open(io.BytesIO(thumb.png))
            image.load()
            assert image.size == (thumb.width, thumb.height), path
            assert max(thumb.width, thumb.height) == min(128, max(thumb.rows, thumb.columns))
            outcomes["rendered"] += 1
    print(dict(outcomes))
    assert outcomes["rendered"] >= 150
    assert outcomes["no_pixel_data"] >= 20


DCMJ2PNM = shutil.which("dcmj2pnm")


@pytest.mark.skipif(DCMJ2PNM is None, reason="dcmtk's dcmj2pnm is not installed")
@pytest.mark.parametrize(
    "name",
    [
        "MR_small.dcm",
        "dicomdirtests/77654033/CT2/17106",
        "dicomdirtests/77654033/CR1/6154",
        "MR2_UNCR.dcm",
    ],
)
def test_matches_dcmtk_with_the_same_window(name: str, tmp_path: Path) -> None:
    ds = _read(name)
    center = float(ds.WindowCenter[0] if ds["WindowCenter"].VM > 1 else ds.WindowCenter)
    width = float(ds.WindowWidth[0] if ds["WindowWidth"].VM > 1 else ds.WindowWidth)
    out = tmp_path / "dcmtk.png"
    cmd = [str(DCMJ2PNM), "+on", "+Ww", str(center), str(width), _path(name), str(out)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)
    reference = np.asarray(Image.open(out).convert("L"), dtype=float)
    ours = render_frame(ds, ds.pixel_array).astype(float)
    assert ours.shape == reference.shape
    assert np.abs(ours - reference).mean() < 1.0


def test_lookup_table_rendering_equals_pixel_by_pixel() -> None:
    """Integer grayscale frames go through a lookup table over their value range; the
    result is identical, settings included, to computing every pixel (every grayscale
    test file of pydicom's and pydicom-data's, every VOI kind)."""
    files = sorted(p for p in get_testdata_files() if os.path.isfile(p))
    compared: collections.Counter[str] = collections.Counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in files:
            try:
                ds = pydicom.dcmread(path)
                pi = str(ds.get("PhotometricInterpretation", ""))
                if pi not in ("MONOCHROME1", "MONOCHROME2"):
                    continue
                index = frame_count(ds) // 2
                arr = decode_frame(path, index).arr
            except Exception:
                continue  # not an image, or not decodable: covered elsewhere
            if arr.ndim != 2 or arr.dtype.kind not in "iu" or arr.size < 64 * 64:
                continue
            view = frame_view(ds, index)
            by_lut = _render_grayscale(arr, view, pi)
            by_pixel = _render_grayscale(arr, frame_view(ds, index), pi, use_lut=False)
            np.testing.assert_array_equal(by_lut.image, by_pixel.image, err_msg=path)
            assert by_lut.settings == by_pixel.settings, path
            compared[str(by_lut.settings.get("voi"))] += 1
    assert sum(compared.values()) >= 40
    assert {"window", "percentile", "voi_lut"} <= set(compared), compared


def test_palette_rendering_equals_pydicoms_lut_on_every_palette_file() -> None:
    """Palette frames go through an 8-bit table (Pillow's palette conversion for 8-bit
    indices); every pixel equals pydicom's ``apply_color_lut`` brought to 8 bits."""
    from pydicom.pixels.processing import apply_color_lut

    compared = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in sorted(p for p in get_testdata_files() if os.path.isfile(p)):
            try:
                ds = pydicom.dcmread(path)
                if str(ds.get("PhotometricInterpretation", "")) != "PALETTE COLOR":
                    continue
                arr = decode_frame(path, frame_count(ds) // 2).arr
                reference = np.asarray(apply_color_lut(arr, ds))
            except Exception:
                continue  # not decodable here: covered elsewhere
            if reference.dtype.itemsize > 1 and int(reference.max()) > 255:
                reference = reference >> 8
            image = render_frame(ds, arr)
            np.testing.assert_array_equal(image, reference.astype(np.uint8), err_msg=path)
            compared += 1
    assert compared >= 3, compared
