"""Hostile local drops: links, FIFOs, sockets and non-UTF-8 names (pure functions).

A read of a FIFO blocks forever, so every call that could open one runs through
:func:`bounded`: a regression fails the test instead of hanging the suite.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pyarrow.fs as pafs
import pytest

from pixels_pipeline.dicom.errors import ReadError, SpecialFileError, SymlinkError
from pixels_pipeline.samples import find_test_file
from pixels_pipeline.storage.landing import list_drops
from pixels_pipeline.storage.listing import FileEntry, describe_file, list_entries
from pixels_pipeline.storage.local import open_regular, path_bytes, scan, stored_path
from pixels_pipeline.storage.uri import open_uri

from ..bounded import bounded
from ..conftest import TEST_FILES_DROP

CT = find_test_file("CT_small.dcm")
NOW = datetime.now(timezone.utc)


@pytest.fixture
def hostile(tmp_path: Path) -> Iterator[Path]:
    """A drop holding a DICOM file and one of each thing that must not be read."""
    assert CT is not None
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(CT, outside / "secret.dcm")
    drop = tmp_path / "landing" / "drop-1"
    (drop / "sub").mkdir(parents=True)
    shutil.copy(CT, drop / "ct.dcm")
    os.symlink(outside / "secret.dcm", drop / "link_out.dcm")
    os.symlink("ct.dcm", drop / "link_in.dcm")
    os.symlink(outside, drop / "sub" / "folder_link")
    os.mkfifo(drop / "pipe")
    os.mkfifo(drop / "sub" / "deep_pipe")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(drop / "sock"))
    raw = os.fsencode(drop)
    shutil.copy(CT, raw + b"/top-\xff\xfe.dcm")
    os.makedirs(raw + b"/deep/\xe9t\xe9")
    shutil.copy(CT, raw + b"/deep/\xe9t\xe9/ct.dcm")
    (drop / "_SUCCESS").touch()
    yield drop
    sock.close()


def listing(drop: Path) -> dict[str, tuple[str, str | None]]:
    root = str(drop)
    fs = pafs.LocalFileSystem()
    return {
        e.relative_path: (e.kind, e.path)
        for e in list_entries(fs, root, root, is_local=True, recursive=True)
    }


def test_links_fifos_sockets_are_listed_not_followed(hostile: Path) -> None:
    found = bounded(lambda: listing(hostile), fifos=(hostile / "pipe",))
    kinds = {rel: kind for rel, (kind, _) in found.items()}
    assert kinds == {
        "ct.dcm": "file",
        "link_out.dcm": "symlink",
        "link_in.dcm": "symlink",
        "sub/folder_link": "symlink",  # not descended: secret.dcm is not listed
        "pipe": "special_file",
        "sub/deep_pipe": "special_file",
        "sock": "special_file",
        "top-%FF%FE.dcm": "file",
        "deep/%E9t%E9/ct.dcm": "file",
    }


def test_names_that_are_not_utf8_are_stored_losslessly(hostile: Path) -> None:
    found = listing(hostile)
    for rel, raw in [
        ("top-%FF%FE.dcm", b"/top-\xff\xfe.dcm"),
        ("deep/%E9t%E9/ct.dcm", b"/deep/\xe9t\xe9/ct.dcm"),
    ]:
        path = found[rel][1]
        assert path is not None and path.startswith("file://")
        assert path_bytes(path) == os.fsencode(hostile) + raw
        with open_uri(path) as fh:  # readers decode the stored path back to the bytes
            assert fh.read() == CT.read_bytes()  # type: ignore[union-attr]
    # Valid names keep their plain path, as before.
    assert found["ct.dcm"][1] == str(hostile / "ct.dcm")
    assert stored_path(b"/a/%FF") == "/a/%FF"  # a valid name is never decoded
    assert path_bytes(stored_path(b"/a/%\xff")) == b"/a/%\xff"


def test_describe_file_of_a_file_swapped_for_a_fifo_does_not_block(hostile: Path) -> None:
    # Listed as a file, then replaced by a FIFO before the describing task reads it.
    target = hostile / "ct.dcm"
    target.unlink()
    os.mkfifo(target)
    entry = FileEntry("drop-1", str(hostile), "ct.dcm", 1, NOW)
    rows = bounded(
        lambda: describe_file(
            pafs.LocalFileSystem(),
            str(target),
            entry,
            is_local=True,
            is_anon=False,
            ingested_at=NOW,
        ),
        fifos=(target,),
    )
    assert [(r["error_type"], r["is_dicom"]) for r in rows] == [("special_file", False)]


def test_open_regular_refuses_links_fifos_and_linked_folders(hostile: Path) -> None:
    with open_regular(str(hostile / "ct.dcm")) as fh:
        assert fh.read(132)[128:] == b"DICM"
    with pytest.raises(SymlinkError):
        open_regular(str(hostile / "link_out.dcm"))
    with pytest.raises(SymlinkError):
        open_regular(str(hostile / "link_in.dcm"))
    with pytest.raises(SymlinkError):  # a folder on the way is a link out of the drop
        open_regular(str(hostile / "sub" / "folder_link" / "secret.dcm"))
    with pytest.raises(SpecialFileError):
        bounded(lambda: open_regular(str(hostile / "pipe")), fifos=(hostile / "pipe",))
    with pytest.raises(SpecialFileError):
        open_regular(str(hostile / "sock"))
    with pytest.raises(SpecialFileError):
        open_regular("/dev/zero")  # a device node: reading it would never end
    with pytest.raises(ReadError):
        open_regular(str(hostile / "missing.dcm"))


def test_landing_zone_with_hostile_folder_names_still_lists(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    (landing / "drop-ok").mkdir(parents=True)
    (landing / "drop-ok" / "_SUCCESS").touch()
    os.makedirs(os.fsencode(landing) + b"/bad-\xff")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "_SUCCESS").touch()
    os.symlink(tmp_path / "elsewhere", landing / "drop-linked")
    listed = list_drops(str(landing))
    assert [d.drop_id for d in listed.complete] == ["drop-ok"]  # the link is not a drop
    assert listed.rejected == ("bad-%FF",)


def test_folder_swapped_for_a_link_before_its_walk_is_not_followed(hostile: Path) -> None:
    # The driver listed sub/ as a folder; by the time a task walks it, it is a link out.
    shutil.rmtree(hostile / "sub")
    os.symlink(hostile.parent.parent / "outside", hostile / "sub")
    found = list(scan(os.fsencode(hostile), b"sub", recursive=True))
    assert [(e.relative, e.kind) for e in found] == [(b"sub", "unlisted")]
    assert found[0].error is not None and "cannot list folder" in found[0].error


def test_plain_drops_list_as_pyarrow_listed_them(landing: Path) -> None:
    # Same paths, sizes and times as the pyarrow listing this replaced: row ids and
    # fingerprints of existing catalogs do not change.
    root = str(landing / TEST_FILES_DROP)
    fs = pafs.LocalFileSystem()
    before = {
        (i.path, i.size, i.mtime)
        for i in fs.get_file_info(pafs.FileSelector(root, recursive=True))
        if i.type == pafs.FileType.File and i.base_name != "_SUCCESS"
    }
    after = {
        (e.path, e.size, e.mtime)
        for e in list_entries(fs, root, root, is_local=True, recursive=True)
    }
    assert after == before and len(after) > 100
