"""Local folders, read defensively: only regular files inside the drop are ever opened.

* The walk uses ``os.scandir`` on *bytes* paths and never follows a symbolic link: a link
  (to a file or a folder, inside the drop or out of it) is listed as a ``symlink`` entry
  and not read; a FIFO, socket or device node is a ``special_file`` entry and never
  opened (a read of a FIFO blocks forever). Links are not followed even when their
  target is inside the drop: that target is cataloged under its own name anyway. Each
  folder is opened with ``O_NOFOLLOW`` and listed through its descriptor, so a folder
  swapped for a link after its parent was listed is not followed either.
* :func:`open_regular` opens with ``O_NOFOLLOW | O_NONBLOCK`` and checks with ``fstat``
  that it got a regular file, so a file swapped for a link or a FIFO between listing
  and reading is refused, not followed; on Linux it also checks the opened file's real
  path, which catches a parent folder swapped for a link.
* Names that are not valid UTF-8 cannot be stored in a string column as they are. Such
  a file's path is stored as a ``file://`` URI whose path is percent-encoded byte by
  byte (RFC 3986/8089: ``quote(raw_bytes, safe="/")``), which is lossless; every other
  local path is stored as the plain absolute path it always was. A stored path that
  starts with ``file://`` is therefore always an encoded one (:func:`path_bytes` decodes).
"""

from __future__ import annotations

import io
import os
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import BinaryIO, Literal
from urllib.parse import quote, unquote_to_bytes

from pixels_pipeline.dicom.errors import ReadError, SpecialFileError, SymlinkError

FILE_URI = "file://"
Kind = Literal["file", "symlink", "special_file", "unlisted"]


@dataclass(frozen=True)
class LocalEntry:
    """One entry found by :func:`scan`; ``relative`` is relative to the scanned root."""

    relative: bytes
    kind: Kind
    size: int
    mtime: datetime | None
    error: str | None = None  # why it is not a regular file, or why a folder failed to list


def text_of(path: bytes) -> str:
    """How a path is stored: as is when it is valid UTF-8, else percent-encoded bytes."""
    try:
        return path.decode("utf-8")
    except UnicodeDecodeError:
        return quote(path, safe="/")


def stored_path(path: bytes) -> str:
    """A local file's stored path: the plain absolute path, or for a name that is not
    valid UTF-8 a ``file://`` URI with the path percent-encoded (lossless)."""
    try:
        return path.decode("utf-8")
    except UnicodeDecodeError:
        return FILE_URI + quote(path, safe="/")


def path_bytes(stored: str) -> bytes:
    """The file system path of a stored local path (inverse of :func:`stored_path`)."""
    if stored.startswith(FILE_URI):
        return unquote_to_bytes(stored[len(FILE_URI) :])
    return os.fsencode(stored)


def scan(root: bytes, folder: bytes = b"", *, recursive: bool) -> Iterator[LocalEntry]:
    """Entries below ``root/folder`` (``folder`` relative to ``root``), never following
    links; with ``recursive`` it descends into real sub-folders, else it lists them as
    ``unlisted`` entries of size 0 (the caller walks them). A folder that cannot be read
    is one ``unlisted`` entry with an ``error``; its siblings are still listed."""
    stack = [folder]
    while stack:
        current = stack.pop()
        path = os.path.join(root, current) if current else root
        try:
            children = _children(path)
        except OSError as exc:
            yield LocalEntry(current, "unlisted", 0, None, f"cannot list folder: {_why(exc)}")
            continue
        for name, st in children:
            rel = os.path.join(current, name) if current else name
            if isinstance(st, OSError):
                yield LocalEntry(rel, "unlisted", 0, None, f"cannot stat: {_why(st)}")
                continue
            mode = st.st_mode
            if stat.S_ISDIR(mode):
                if recursive:
                    stack.append(rel)
                else:
                    yield LocalEntry(rel, "unlisted", 0, _mtime(st))
            elif stat.S_ISREG(mode):
                yield LocalEntry(rel, "file", st.st_size, _mtime(st))
            elif stat.S_ISLNK(mode):
                yield LocalEntry(rel, "symlink", 0, _mtime(st), "symbolic link, not followed")
            else:
                yield LocalEntry(rel, "special_file", 0, _mtime(st), f"{_kind(mode)}, not read")


def _children(path: bytes) -> list[tuple[bytes, os.stat_result | OSError]]:
    """``(name, lstat)`` of a folder's entries, sorted by name. The folder is opened with
    ``O_NOFOLLOW`` and listed through its descriptor: a folder swapped for a link after
    its parent was listed is refused, not followed."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        out: list[tuple[bytes, os.stat_result | OSError]] = []
        with os.scandir(fd) as it:
            for entry in it:
                try:
                    st: os.stat_result | OSError = entry.stat(follow_symlinks=False)
                except OSError as exc:
                    st = exc
                out.append((os.fsencode(entry.name), st))  # names are str(surrogateescape)
    finally:
        os.close(fd)
    return sorted(out, key=lambda c: c[0])


def check_folder(path: str) -> None:
    """Raise unless ``path`` (a drop's root) is a real folder, not a link to one: a drop
    linked from the landing zone would be read from outside it."""
    try:
        mode = os.lstat(path_bytes(path)).st_mode
    except OSError as exc:
        raise FileNotFoundError(f"drop folder not found: {_why(exc)}") from exc
    if stat.S_ISLNK(mode):
        raise NotADirectoryError("the drop folder is a symbolic link; links are not followed")
    if not stat.S_ISDIR(mode):
        raise NotADirectoryError("the drop is not a folder")


def relative_text(root: str, path: str) -> str:
    """The stored form of ``path`` relative to ``root`` (both stored paths)."""
    return text_of(path_bytes(path)[len(path_bytes(root)) :].lstrip(b"/"))


def open_regular(path: str | bytes, *, label: str | None = None) -> BinaryIO:
    """Open a regular file for buffered binary reading, refusing anything else.

    Raises :class:`SymlinkError` for a link (the last component, or on Linux any
    component of a path that was stored canonical), :class:`SpecialFileError` for a
    FIFO, socket or device node (without blocking on it), :class:`ReadError` otherwise.
    """
    raw = path_bytes(path) if isinstance(path, str) else path
    name = label or (path if isinstance(path, str) else text_of(path))
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(raw, flags)
    except OSError as exc:
        try:
            mode = os.lstat(raw).st_mode
        except OSError:
            mode = stat.S_IFREG
        if stat.S_ISLNK(mode):
            raise SymlinkError(f"{name}: symbolic link, not followed") from exc
        if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):  # a socket cannot be opened
            raise SpecialFileError(f"{name}: {_kind(mode)}, not read") from exc
        raise ReadError(f"{name}: cannot open: {_why(exc)}") from exc
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise SpecialFileError(f"{name}: {_kind(mode)}, not read")
        _check_real_path(fd, raw, name)
        os.set_blocking(fd, True)
        raw_file = io.FileIO(fd, "rb", closefd=True)
    except BaseException:
        os.close(fd)
        raise
    reader = io.BufferedReader(raw_file, buffer_size=256 * 1024)
    raw_file.name = name  # type: ignore[misc]  # pydicom reads fp.name
    return reader


def _check_real_path(fd: int, raw: bytes, name: str) -> None:
    """Where ``/proc`` shows what an open descriptor is, check that no folder on the way
    was a link: stored paths are canonical (the landing zone's path is resolved)."""
    if not sys.platform.startswith("linux") or not os.path.isabs(raw):
        return
    try:
        real = os.readlink(f"/proc/self/fd/{fd}".encode())
    except OSError:
        return
    if real == os.path.normpath(raw) + b" (deleted)":
        raise ReadError(f"{name}: deleted while being opened")
    if real != os.path.normpath(raw):
        raise SymlinkError(f"{name}: reached through a symbolic link, not followed")


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode):
        return "character device"
    if stat.S_ISBLK(mode):
        return "block device"
    return "not a regular file"


def _mtime(st: os.stat_result) -> datetime:
    # The same conversion as pyarrow's FileInfo.mtime (the listing before this one), so
    # fingerprints of files listed by either stay equal.
    return datetime.fromtimestamp(st.st_mtime_ns / 1e9, tz=timezone.utc)


def _why(exc: OSError) -> str:
    return f"{type(exc).__name__}: {exc.strerror or f'errno {exc.errno}'}"
