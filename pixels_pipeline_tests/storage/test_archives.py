"""Zip archives: members listed and read safely; zip-slip and bombs are typed errors."""

import io
import zipfile
from pathlib import Path

import pydicom
import pytest

from pixels_pipeline.dicom.errors import ArchiveError
from pixels_pipeline.dicom.sniff import looks_like_dicom
from pixels_pipeline.samples import find_test_file
from pixels_pipeline.storage.archives import (
    ArchiveLimits,
    BadMember,
    Member,
    is_safe_name,
    list_members,
    member_uri,
    read_member,
    split_member_uri,
)
from pixels_pipeline.storage.uri import open_uri

CT = find_test_file("CT_small.dcm")
MR = find_test_file("MR_small.dcm")


def make_zip(path: Path, members: dict[str, bytes], *, deflate: bool = True) -> Path:
    mode = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", mode) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_members_are_listed_and_read(tmp_path: Path) -> None:
    assert CT is not None and MR is not None
    archive = make_zip(
        tmp_path / "a.zip", {"series/ct.dcm": CT.read_bytes(), "mr.dcm": MR.read_bytes()}
    )
    with open(archive, "rb") as fh:
        members = list_members(fh, limits=ArchiveLimits())
        assert {m.name for m in members if isinstance(m, Member)} == {"series/ct.dcm", "mr.dcm"}
        head = read_member(fh, "series/ct.dcm", limits=ArchiveLimits(), head=132)
    assert looks_like_dicom(head)
    uri = member_uri(str(archive), "series/ct.dcm")
    assert split_member_uri(uri) == (str(archive), "series/ct.dcm")
    with open_uri(uri) as fp:
        ds = pydicom.dcmread(fp)
    assert ds.SOPInstanceUID == pydicom.dcmread(CT).SOPInstanceUID


@pytest.mark.parametrize(
    "name", ["../evil.dcm", "/etc/passwd", "a/../../b.dcm", "C:/win.dcm", "a\\..\\b.dcm"]
)
def test_zip_slip_names_are_refused(tmp_path: Path, name: str) -> None:
    assert not is_safe_name(name)
    archive = make_zip(tmp_path / "slip.zip", {name: b"x" * 200, "ok.dcm": b"y" * 200})
    with open(archive, "rb") as fh:
        members = list_members(fh, limits=ArchiveLimits())
        bad = [m for m in members if isinstance(m, BadMember)]
        assert [m.reason for m in bad] == ["unsafe member path (zip-slip)"]
        with pytest.raises(ArchiveError, match="zip-slip"):
            read_member(fh, name, limits=ArchiveLimits())
    assert not (tmp_path / "evil.dcm").exists()


def test_zip_bomb_member_and_total_size_are_refused(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "bomb.zip", {"zeros.dcm": b"\0" * (20 * 1024 * 1024)})
    assert archive.stat().st_size < 100_000
    with open(archive, "rb") as fh:
        (member,) = list_members(fh, limits=ArchiveLimits())
        assert isinstance(member, BadMember) and "compression ratio" in member.reason
        (whole,) = list_members(fh, limits=ArchiveLimits(max_total_bytes=1024 * 1024))
        assert isinstance(whole, BadMember) and whole.name == ""


def test_broken_archive_is_one_bad_entry(tmp_path: Path) -> None:
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04" + b"garbage" * 100)
    with open(broken, "rb") as fh:
        (entry,) = list_members(fh, limits=ArchiveLimits())
    assert isinstance(entry, BadMember) and entry.name == ""
    assert "unreadable" in entry.reason


def test_in_memory_stream_works_too() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("x.dcm", b"abc")
    buf.seek(0)
    assert read_member(buf, "x.dcm", limits=ArchiveLimits()) == b"abc"
