import json
import warnings
from pathlib import Path
from typing import Any

import pydicom
import pytest

from pixels_pipeline.dicom.errors import ErrorType
from pixels_pipeline.dicom.header import read_header
from pixels_pipeline.dicom.instance import metadata_row
from pixels_pipeline.samples import find_test_file, pydicom_test_files

ROOT = pydicom_test_files()
REFERENCE_FILES = [
    "CT_small.dcm",
    "MR_small.dcm",
    "rtplan.dcm",
    "rtdose.dcm",
    "JPEG2000.dcm",
    "SC_rgb_rle.dcm",
    "ExplVR_BigEnd.dcm",
    "MR_small_implicit.dcm",
    "waveform_ecg.dcm",
    "emri_small.dcm",
    "image_dfl.dcm",
    "nested_priv_SQ.dcm",
]


def header_of(path: Path) -> Any:
    with open(path, "rb") as fh:
        return read_header(fh, uri=str(path), file_size=path.stat().st_size)


def reference_json(path: Path) -> dict[str, Any]:
    """pydicom's own DICOM JSON of the full file (pixels included), file meta merged in."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path, force=True)
    out = ds.file_meta.to_json_dict() if getattr(ds, "file_meta", None) else {}
    out.update(ds.to_json_dict())
    return out


@pytest.mark.parametrize("name", REFERENCE_FILES)
def test_meta_equals_pydicom_json_for_non_bulk_elements(name: str) -> None:
    path = find_test_file(name)
    assert path is not None, name
    meta = json.loads(header_of(path).meta)
    reference = reference_json(path)
    assert_same_json(meta, reference)


def assert_same_json(ours: dict[str, Any], reference: dict[str, Any], where: str = "") -> None:
    """Equal element by element at every depth, except that a bulk value of ours is a
    BulkDataURI reference where pydicom inlines it."""
    assert set(ours) == set(reference), where
    for tag, element in reference.items():
        mine = ours[tag]
        if "BulkDataURI" in mine:
            assert mine["vr"] == element["vr"] and "InlineBinary" in element, where + tag
        elif element.get("vr") == "SQ" and "Value" in element:
            assert len(mine["Value"]) == len(element["Value"]), where + tag
            for a, b in zip(mine["Value"], element["Value"], strict=True):
                assert_same_json(a, b, f"{where}{tag}/")
        else:
            assert mine == element, where + tag


def test_pixel_data_is_a_bulk_reference_not_inlined() -> None:
    path = ROOT / "CT_small.dcm"
    meta = json.loads(header_of(path).meta)
    pixel = meta["7FE00010"]
    assert "InlineBinary" not in pixel
    uri = pixel["BulkDataURI"]
    offset = int(uri.split("offset=")[1].split("&")[0])
    length = int(uri.split("length=")[1])
    ds = pydicom.dcmread(path)
    assert path.read_bytes()[offset : offset + length] == ds.PixelData
    assert len(json.dumps(meta)) < 20_000


def test_file_meta_group_is_included() -> None:
    meta = json.loads(header_of(ROOT / "CT_small.dcm").meta)
    assert meta["00020010"]["Value"] == ["1.2.840.10008.1.2.1"]
    assert list(meta) == sorted(meta)


def test_typed_columns() -> None:
    h = header_of(ROOT / "CT_small.dcm")
    ds = pydicom.dcmread(ROOT / "CT_small.dcm")
    assert h.modality == "CT"
    assert h.sop_instance_uid == ds.SOPInstanceUID
    assert h.rows == ds.Rows == 128 and h.columns == ds.Columns
    assert h.study_date is not None and h.study_date.strftime("%Y%m%d") == ds.StudyDate
    assert h.transfer_syntax_uid == ds.file_meta.TransferSyntaxUID
    assert h.bits_allocated == 16


def row_for(path: Path) -> dict[str, Any]:
    with open(path, "rb") as fh:
        return metadata_row(fh, uri=str(path), is_dicom=True, size=path.stat().st_size)


def test_truncated_pixel_data_is_a_truncated_error_with_header_kept() -> None:
    row = row_for(ROOT / "MR_truncated.dcm")
    assert row["error_type"] == ErrorType.TRUNCATED.value
    assert row["modality"] == "MR" and row["meta"] is not None


def test_encapsulated_pixel_data_too_short_is_truncated() -> None:
    path = find_test_file("emri_small_jpeg_2k_lossless_too_short.dcm")
    if path is None:
        pytest.skip("pydicom-data not installed")
    row = row_for(path)
    assert row["error_type"] == ErrorType.TRUNCATED.value
    assert row["rows"] == 64


def test_invalid_value_is_an_invalid_header_error() -> None:
    row = row_for(ROOT / "badVR.dcm")
    assert row["error_type"] == ErrorType.INVALID_HEADER.value
    assert "badVR.dcm" in row["error_message"]


def test_non_dicom_is_a_not_dicom_error_without_parsing() -> None:
    row = metadata_row(None, uri="x/README.txt", is_dicom=False, size=10)
    assert row["error_type"] == ErrorType.NOT_DICOM.value
    assert row["meta"] is None


def test_file_without_elements_is_an_empty_dataset_error(tmp_path: Path) -> None:
    source = (ROOT / "CT_small.dcm").read_bytes()
    ds = pydicom.dcmread(ROOT / "CT_small.dcm")
    meta_end = 132 + 12 + ds.file_meta.FileMetaInformationGroupLength
    only_meta = tmp_path / "only_meta.dcm"
    only_meta.write_bytes(source[:meta_end])
    row = row_for(only_meta)
    assert row["error_type"] == ErrorType.EMPTY_DATASET.value


def test_header_cut_mid_element_is_truncated_or_invalid(tmp_path: Path) -> None:
    cut = tmp_path / "cut.dcm"
    cut.write_bytes((ROOT / "CT_small.dcm").read_bytes()[:700])
    row = row_for(cut)
    assert row["error_type"] in {ErrorType.TRUNCATED.value, ErrorType.INVALID_HEADER.value}
