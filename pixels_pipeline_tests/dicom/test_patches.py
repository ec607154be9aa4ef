"""Tiling on real files: exact coverage, lossless encodings, WSI positions, foreground."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, VLWholeSlideMicroscopyImageStorage, generate_uid

import pixels_pipeline.dicom.patches as patches_module
from pixels_pipeline.dicom.patches import Patch, iter_patches, tile_starts


def _path(name: str) -> str:
    path = get_testdata_file(name)
    assert path is not None, name
    return str(path)


def _read(name: str) -> pydicom.Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(_path(name))


def _pixels(patch: Patch) -> np.ndarray:
    if patch.encoding == "png":
        return np.asarray(Image.open(io.BytesIO(patch.data)))
    return np.frombuffer(patch.data, dtype=patch.dtype).reshape(patch.shape)


def test_tile_starts_stop_at_the_border() -> None:
    assert tile_starts(64, 24, 24) == [0, 24, 48]
    assert tile_starts(10, 8, 4) == [0, 4]  # the tile at 4 reaches the border
    assert tile_starts(5, 8, 8) == [0]


@pytest.mark.parametrize(("name", "size"), [("MR_small.dcm", 24), ("US1_UNCR.dcm", 100)])
def test_stride_equal_to_size_covers_each_pixel_exactly_once(name: str, size: int) -> None:
    reference = _read(name).pixel_array
    coverage = np.zeros(reference.shape[:2], dtype=int)
    rebuilt = np.zeros_like(reference)
    for patch in iter_patches(_path(name), size=size):
        assert patch.frame_index == 0
        assert 0 < patch.width <= size and 0 < patch.height <= size
        coverage[patch.y : patch.y + patch.height, patch.x : patch.x + patch.width] += 1
        rebuilt[patch.y : patch.y + patch.height, patch.x : patch.x + patch.width] = _pixels(patch)
    assert (coverage == 1).all()
    np.testing.assert_array_equal(rebuilt, reference)


def test_encodings_are_lossless_and_documented() -> None:
    raw = next(iter_patches(_path("MR_small_expb.dcm"), size=16))  # big endian, signed 16-bit
    assert (raw.encoding, raw.dtype, raw.shape) == ("raw", "<i2", (16, 16))
    np.testing.assert_array_equal(_pixels(raw), _read("MR_small.dcm").pixel_array[:16, :16])
    rgb = next(iter_patches(_path("SC_rgb.dcm"), size=40))
    assert (rgb.encoding, rgb.dtype, rgb.shape) == ("png", "|u1", (40, 40, 3))
    assert Image.open(io.BytesIO(rgb.data)).mode == "RGB"
    gray = next(iter_patches(_path("image_dfl.dcm"), size=32))  # 8-bit grayscale, deflated
    assert gray.encoding == "png" and Image.open(io.BytesIO(gray.data)).mode == "L"


def test_palette_patches_are_rgb_through_the_lut() -> None:
    ds = _read("OBXXXX1A.dcm")
    patch = next(iter_patches(_path("OBXXXX1A.dcm"), size=64, frames=[0]))
    red = np.frombuffer(ds.RedPaletteColorLookupTableData, "<u2")
    expected_red = red[ds.pixel_array[:64, :64]]
    assert patch.encoding == "raw" and patch.shape == (64, 64, 3)
    np.testing.assert_array_equal(_pixels(patch)[..., 0], expected_red)


def test_only_requested_frames_are_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = patches_module.decode_frame

    def spy(source: object, index: int, **kwargs: object) -> object:
        calls.append(index)
        return real(source, index, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(patches_module, "decode_frame", spy)
    found = list(iter_patches(_path("emri_small.dcm"), size=32, frames=[2, 7]))
    assert calls == [2, 7]
    assert [p.frame_index for p in found] == [2] * 4 + [7] * 4
    reference = _read("emri_small.dcm").pixel_array
    np.testing.assert_array_equal(_pixels(found[5]), reference[7, :32, 32:])


def test_min_foreground_skips_background_tiles() -> None:
    everything = list(iter_patches(_path("CT_small.dcm"), size=16))
    assert all(0.0 <= p.foreground <= 1.0 for p in everything)
    corner = next(p for p in everything if (p.x, p.y) == (0, 0))
    centre = next(p for p in everything if (p.x, p.y) == (64, 64))
    assert corner.foreground < 0.1 < 0.9 < centre.foreground  # air vs. body
    kept = list(iter_patches(_path("CT_small.dcm"), size=16, min_foreground=0.5))
    assert [(p.x, p.y) for p in kept] == [(p.x, p.y) for p in everything if p.foreground >= 0.5]
    assert 0 < len(kept) < len(everything)


def _write_tiled_full(tmp_path: Path, tile: int) -> tuple[Path, np.ndarray]:
    """A real VL whole-slide image (TILED_FULL) cut from examples_rgb_color.dcm's pixels."""
    source = _read("examples_rgb_color.dcm")
    image = source.pixel_array  # 240 x 320 RGB
    rows, cols = image.shape[:2]
    down, across = -(-rows // tile), -(-cols // tile)
    padded = np.full((down * tile, across * tile, 3), 255, dtype=np.uint8)
    padded[:rows, :cols] = image
    frames = [
        padded[r * tile : (r + 1) * tile, c * tile : (c + 1) * tile]
        for r in range(down)
        for c in range(across)
    ]
    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = VLWholeSlideMicroscopyImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = generate_uid()
    ds.SOPClassUID = VLWholeSlideMicroscopyImageStorage
    ds.Modality = "SM"
    ds.DimensionOrganizationType = "TILED_FULL"
    ds.TotalPixelMatrixRows, ds.TotalPixelMatrixColumns = rows, cols
    ds.Rows = ds.Columns = tile
    ds.NumberOfFrames = len(frames)
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = np.stack(frames).tobytes()
    path = tmp_path / "wsi.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path, image


def test_tiled_full_tiles_sit_at_their_total_pixel_matrix_positions(tmp_path: Path) -> None:
    path, image = _write_tiled_full(tmp_path, tile=100)
    found = list(iter_patches(path, size=100))
    assert len(found) == 12  # 3 rows x 4 columns of frames
    assert [(p.frame_index, p.x, p.y) for p in found[:5]] == [
        (0, 0, 0),
        (1, 100, 0),
        (2, 200, 0),
        (3, 300, 0),
        (4, 0, 100),
    ]
    last = found[-1]
    assert (last.x, last.y, last.width, last.height) == (300, 200, 20, 40)  # padding cut off
    coverage = np.zeros(image.shape[:2], dtype=int)
    rebuilt = np.zeros_like(image)
    for p in found:
        coverage[p.y : p.y + p.height, p.x : p.x + p.width] += 1
        rebuilt[p.y : p.y + p.height, p.x : p.x + p.width] = _pixels(p)
    assert (coverage == 1).all()
    np.testing.assert_array_equal(rebuilt, image)


def test_tiled_full_sub_tiles_and_bright_background(tmp_path: Path) -> None:
    path, image = _write_tiled_full(tmp_path, tile=100)
    found = list(iter_patches(path, size=50, frames=[5]))  # frame 5: row 1, column 1
    assert [(p.x, p.y) for p in found] == [(100, 100), (150, 100), (100, 150), (150, 150)]
    for p in found:
        gray = np.asarray(Image.fromarray(_pixels(p)).convert("L"))
        assert p.foreground == pytest.approx(float((gray < 220).mean()))
    np.testing.assert_array_equal(_pixels(found[3]), image[150:200, 150:200])


def test_otsu_threshold_splits_two_levels_and_ignores_layout() -> None:
    gray = np.full((40, 60), 10, dtype=np.uint8)
    gray[:, 25:] = 200
    threshold = patches_module.otsu_threshold(gray)
    assert threshold is not None and 10 <= threshold < 200
    # A strided view and its copy give the same threshold; a constant image has none.
    assert patches_module.otsu_threshold(gray.T) == patches_module.otsu_threshold(gray.T.copy())
    assert patches_module.otsu_threshold(np.full((8, 8), 7, dtype=np.uint8)) is None
