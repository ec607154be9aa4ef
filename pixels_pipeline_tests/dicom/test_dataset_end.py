"""A valid DICOM file followed by gigabytes of zeros parses as fast as the file alone:
the readers stop where the dataset ends (the files are sparse, so cheap to make)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pydicom
import pytest

from pixels_pipeline.dicom.dataset_end import read_file
from pixels_pipeline.dicom.header import read_header, read_header_reference
from pixels_pipeline.dicom.patches import iter_patches
from pixels_pipeline.dicom.render import read_image_header, render_thumbnail
from pixels_pipeline.samples import find_test_file

from ..bounded import bounded

ZEROS = 3 * 1024**3  # sparse: no disk space is used


def padded(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """``(original, copy followed by ZEROS zero bytes)``."""
    source = find_test_file(name)
    assert source is not None
    target = tmp_path / f"padded-{name}"
    shutil.copy(source, target)
    with open(target, "r+b") as fh:
        fh.truncate(source.stat().st_size + ZEROS)
    return source, target


# CT_small: Pixel Data then zeros; rtplan: no Pixel Data, zeros right after the header;
# MR_small_padded: trailing padding element after Pixel Data, then zeros.
@pytest.mark.parametrize("name", ["CT_small.dcm", "rtplan.dcm", "MR_small_padded.dcm"])
def test_header_stops_at_the_end_of_the_dataset(tmp_path: Path, name: str) -> None:
    source, target = padded(tmp_path, name)
    for read in (read_header, read_header_reference):
        with open(source, "rb") as fh:
            expected = read(fh, uri="f")
        with open(target, "rb") as fh:
            got = bounded(lambda fh=fh, read=read: read(fh, uri="f"))  # type: ignore[misc]
        assert got == expected
        assert not got.truncated


def test_thumbnails_and_patches_stop_at_the_end_of_the_dataset(tmp_path: Path) -> None:
    source, target = padded(tmp_path, "CT_small.dcm")
    thumb = bounded(lambda: render_thumbnail(str(target), max_size=64))
    assert thumb.png == render_thumbnail(str(source), max_size=64).png
    tiles = bounded(lambda: list(iter_patches(str(target), size=64)))
    assert len(tiles) == len(list(iter_patches(str(source), size=64))) > 0
    _, plan = padded(tmp_path, "rtplan.dcm")
    with pytest.raises(Exception, match="no image pixel module"):
        bounded(lambda: read_image_header(str(plan)))


# SC_rgb_jpeg: Pixel Data implicitly encoded in an explicit VR file (pydicom probes the
# VR and asks about the tag twice); MR_small_padded: an element after Pixel Data.
@pytest.mark.parametrize("name", ["SC_rgb_jpeg.dcm", "MR_small_padded.dcm", "rtplan.dcm"])
def test_valid_files_read_exactly_as_dcmread_reads_them(name: str) -> None:
    path = find_test_file(name)
    assert path is not None
    for stop in (True, False):
        expected = pydicom.dcmread(path, stop_before_pixels=stop, force=True)
        with open(path, "rb") as fh:
            assert read_file(fh, stop_before_pixels=stop) == expected
