"""Decoder selection, per-frame decoding and gdcm crash isolation, on pydicom's test files."""

from __future__ import annotations

import io
import os
import warnings

import numpy as np
import pydicom
import pytest
from pydicom import uid
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate
from pydicom.pixels.decoders.base import get_decoder

from pixels_pipeline.dicom.decode import (
    DECODER_ORDER,
    ISOLATED_PLUGINS,
    decode_frame,
    decoder_order,
)
from pixels_pipeline.dicom.errors import (
    DecodeError,
    DecoderCrashError,
    ErrorType,
    NoPixelDataError,
    TruncatedError,
    UnsupportedTransferSyntaxError,
)

GDCM_CRASH_FILES = ("rtdose_1frame.dcm", "rtdose_expb_1frame.dcm", "rtdose_rle_1frame.dcm")


def _path(name: str) -> str:
    path = get_testdata_file(name)
    assert path is not None, name
    return str(path)


def _reference(name: str) -> np.ndarray:
    """All frames decoded by pydicom's own default route: the independent reference."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(_path(name)).pixel_array


def test_table_names_only_plugins_pydicom_has_for_each_syntax() -> None:
    for ts, plugins in DECODER_ORDER.items():
        decoder = get_decoder(uid.UID(ts))
        if decoder.is_native:
            assert plugins == ("pydicom",), ts
            continue
        known = set(decoder._available) | set(decoder._unavailable)
        assert set(plugins) <= known, (ts, plugins, known)


def test_measured_order_is_encoded() -> None:
    assert decoder_order(uid.JPEGBaseline8Bit)[0] == "pillow"
    assert decoder_order(uid.JPEGLosslessSV1)[0] == "gdcm"
    assert decoder_order(uid.RLELossless) == ("pylibjpeg", "pydicom")
    assert "pylibjpeg" in decoder_order(uid.JPEGExtended12Bit)
    for ts in (uid.ExplicitVRLittleEndian, uid.ImplicitVRLittleEndian, uid.ExplicitVRBigEndian):
        assert not ISOLATED_PLUGINS & set(decoder_order(ts)), "gdcm must never run for native data"


@pytest.mark.parametrize("name", GDCM_CRASH_FILES)
def test_default_route_decodes_the_gdcm_crash_files(name: str) -> None:
    frame = decode_frame(_path(name), 0)
    assert frame.decoder != "gdcm"
    np.testing.assert_array_equal(frame.arr, _reference(name))


def test_forced_gdcm_crash_becomes_an_error_and_the_process_survives() -> None:
    parent_pid = os.getpid()
    with pytest.raises(DecoderCrashError) as info:
        decode_frame(_path("rtdose_1frame.dcm"), 0, plugins=("gdcm",))
    assert info.value.error_type is ErrorType.DECODER_CRASH
    assert "rtdose_1frame.dcm" in info.value.message and "signal 6" in info.value.message
    assert os.getpid() == parent_pid
    # The caller continues: gdcm works again in a fresh child, in-process decoding too.
    lossless = decode_frame(_path("JPEG-LL.dcm"), 0, plugins=("gdcm",))
    assert lossless.decoder == "gdcm"
    np.testing.assert_array_equal(lossless.arr, _reference("JPEG-LL.dcm"))
    assert decode_frame(_path("rtdose_1frame.dcm"), 0).decoder == "pydicom"


def test_gdcm_and_pylibjpeg_agree_on_lossless_jpeg() -> None:
    gdcm = decode_frame(_path("SC_rgb_jpeg_gdcm.dcm"), 0, plugins=("gdcm",))
    libjpeg = decode_frame(_path("SC_rgb_jpeg_gdcm.dcm"), 0, plugins=("pylibjpeg",))
    np.testing.assert_array_equal(gdcm.arr, libjpeg.arr)
    assert gdcm.photometric_interpretation == libjpeg.photometric_interpretation == "RGB"


def test_only_pylibjpeg_decodes_jpeg_extended_12_bit() -> None:
    frame = decode_frame(_path("JPGExtended.dcm"), 0)
    assert frame.decoder == "pylibjpeg"
    assert frame.arr.shape == (1024, 256) and frame.arr.dtype == np.uint16


@pytest.mark.parametrize(
    ("name", "index"),
    [
        ("emri_small.dcm", 7),
        ("emri_small_big_endian.dcm", 3),
        ("emri_small_RLE.dcm", 9),
        ("emri_small_jpeg_ls_lossless.dcm", 4),
        ("emri_small_jpeg_2k_lossless.dcm", 0),
        ("SC_rgb_rle_2frame.dcm", 1),
    ],
)
def test_one_frame_equals_that_frame_of_the_whole_volume(name: str, index: int) -> None:
    frame = decode_frame(_path(name), index)
    np.testing.assert_array_equal(frame.arr, _reference(name)[index])


def test_path_bytes_file_object_and_dataset_sources_agree() -> None:
    path = _path("emri_small_RLE.dcm")
    with open(path, "rb") as f:
        data = f.read()
        f.seek(0)
        from_file = decode_frame(f, 5).arr
    ds = pydicom.dcmread(path)
    for arr in (decode_frame(data, 5).arr, from_file, decode_frame(ds, 5).arr):
        np.testing.assert_array_equal(arr, decode_frame(path, 5).arr)


def test_ybr_jpeg_is_reported_as_rgb_after_decoding() -> None:
    frame = decode_frame(_path("SC_rgb_dcmtk_+eb+cy+np.dcm"), 0)
    assert frame.decoder == "pillow"
    assert frame.photometric_interpretation == "RGB"


def test_failures_are_typed() -> None:
    with pytest.raises(NoPixelDataError):
        decode_frame(_path("rtplan.dcm"), 0)
    with pytest.raises(TruncatedError):
        decode_frame(_path("MR_truncated.dcm"), 0)
    with pytest.raises(DecodeError, match="out of range"):
        decode_frame(_path("emri_small.dcm"), 10)
    ds = pydicom.dcmread(_path("MR_small.dcm"))
    ds.file_meta.TransferSyntaxUID = uid.MPEG2MPML
    ds.PixelData = encapsulate([ds.PixelData])
    buf = io.BytesIO()
    ds.save_as(buf)
    with pytest.raises(UnsupportedTransferSyntaxError, match="MPEG2"):
        decode_frame(buf.getvalue(), 0)
