"""Datasets without preamble/file meta are DICOM by content and must render too."""

import io

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.pixels import apply_color_lut

from pixels_pipeline.dicom.render import render_thumbnail
from pixels_pipeline.dicom.sniff import looks_like_dicom
from pixels_pipeline.samples import find_test_file


def test_headerless_palette_file_renders_through_its_lut() -> None:
    path = find_test_file("OT-PAL-8-face.dcm")
    if path is None:
        pytest.skip("pydicom-data not installed")
    assert path.read_bytes()[128:132] != b"DICM" and looks_like_dicom(path.read_bytes()[:132])
    thumb = render_thumbnail(str(path))
    ds = pydicom.dcmread(path, force=True)
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
    assert ds.original_encoding == (True, True)
    expected = apply_color_lut(ds.pixel_array, ds)
    expected8 = (expected / (expected.max() or 1) * 255).astype(np.uint8)
    shown = np.asarray(Image.open(io.BytesIO(thumb.png)).convert("RGB"), float)
    assert shown.shape[:2] == (thumb.height, thumb.width) == (192, 256)
    assert np.abs(shown.mean(axis=(0, 1)) - expected8.mean(axis=(0, 1))).max() < 3
