"""Zip archives: members listed and read safely; zip-slip and bombs are typed errors."""

import io
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pyarrow.fs as pafs
import pydicom
import pytest

from pixels_pipeline.dicom.errors import ArchiveError
from pixels_pipeline.dicom.sniff import looks_like_dicom
from pixels_pipeline.samples import find_test_file
from pixels_pipeline.storage.archives import (
    ArchiveLimits,
    BadMember,
    Member,
    OpenArchives,
    is_safe_name,
    list_members,
    member_uri,
    read_member,
    split_member_uri,
)
from pixels_pipeline.storage.listing import FileEntry, describe_file
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


class CountingFile(io.FileIO):
    """A file that counts the bytes read from it."""

    bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.bytes_read += len(data)
        return data


def test_members_of_one_archive_are_read_through_one_open_archive(tmp_path: Path) -> None:
    members = {f"series/{i:05d}.bin": bytes([i % 251]) * 200 for i in range(3000)}
    archive = make_zip(tmp_path / "many.zip", members, deflate=False)
    opened: list[CountingFile] = []

    def opener(uri: str) -> CountingFile:
        opened.append(CountingFile(uri, "r"))
        return opened[-1]

    with OpenArchives(opener) as archives:
        for name, data in members.items():
            assert archives.member(str(archive), name, limits=ArchiveLimits()).read() == data
    # The central directory (~180 KB) is read once, not once per member (~540 MB).
    assert len(opened) == 1
    assert opened[0].bytes_read < 2 * archive.stat().st_size
    assert opened[0].closed


@pytest.mark.parametrize("name", ["ab::c.dcm", "xy:.dcm", "100%.dcm", "%3A::%25/c.dcm", "ab::"])
def test_member_names_with_colons_and_percents_round_trip(tmp_path: Path, name: str) -> None:
    assert CT is not None
    archive = make_zip(tmp_path / "odd::name.zip", {name: CT.read_bytes(), "plain.dcm": b"x"})
    uri = member_uri(str(archive), name)
    assert split_member_uri(uri) == (str(archive), name)
    with open_uri(uri) as fp:
        assert fp.read() == CT.read_bytes()
    assert member_uri(str(archive), "plain.dcm") == f"zip://plain.dcm::{archive}"  # unchanged


def test_catalog_rows_of_an_archive_with_many_members(tmp_path: Path) -> None:
    assert CT is not None
    members = {f"m/{i:04d}.dcm": CT.read_bytes() for i in range(500)}
    (tmp_path / "drop").mkdir()
    archive = make_zip(tmp_path / "drop" / "a.zip", {**members, "ab::c.dcm": CT.read_bytes()})
    now = datetime.now(timezone.utc)
    entry = FileEntry("drop", str(tmp_path / "drop"), "a.zip", archive.stat().st_size, now)
    rows = describe_file(
        pafs.LocalFileSystem(), str(archive), entry, is_local=True, is_anon=False, ingested_at=now
    )
    assert len(rows) == 501 and all(r["is_dicom"] and r["error_type"] is None for r in rows)
    odd = next(r for r in rows if r["relative_path"] == "a.zip::ab%3A%3Ac.dcm")
    with open_uri(odd["path"]) as fp:
        assert fp.read() == CT.read_bytes()
