from pathlib import Path

import pytest

from pixels_pipeline.dicom.sniff import looks_like_dicom
from pixels_pipeline.samples import pydicom_test_files

ROOT = pydicom_test_files()


def head(name: str) -> bytes:
    return (ROOT / name).read_bytes()[:132]


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm"])
def test_part10_files_are_dicom(name: str) -> None:
    assert head(name)[128:132] == b"DICM"
    assert looks_like_dicom(head(name))


@pytest.mark.parametrize("name", ["ExplVR_BigEndNoMeta.dcm", "ExplVR_LitEndNoMeta.dcm"])
def test_headerless_datasets_are_dicom(name: str) -> None:
    assert head(name)[128:132] != b"DICM"
    assert looks_like_dicom(head(name))


@pytest.mark.parametrize(
    "name", ["README.txt", "crayons.icc", "test1.json", "zipMR.gz", "rtplan.dump"]
)
def test_other_files_are_not_dicom(name: str) -> None:
    assert not looks_like_dicom(head(name))


def test_extension_does_not_decide(tmp_path: Path) -> None:
    renamed = tmp_path / "image.txt"
    renamed.write_bytes((ROOT / "CT_small.dcm").read_bytes())
    assert looks_like_dicom(renamed.read_bytes()[:132])
    fake = tmp_path / "fake.dcm"
    fake.write_text("not an image at all, just text " * 10)
    assert not looks_like_dicom(fake.read_bytes()[:132])


def test_short_input_is_not_dicom() -> None:
    assert not looks_like_dicom(b"")
    assert not looks_like_dicom(b"\x08\x00")
