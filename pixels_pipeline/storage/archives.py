"""Zip archives in drops: members are cataloged and read like files, safely.

A member's URI is ``zip://<member>::<archive uri>`` (fsspec's chained-URL form), so it
names both the archive and the member. A member name holding ``:`` or ``%`` is written
with those two characters percent-encoded (``%3A``, ``%25``), so the first ``::`` always
ends the member name and ``urllib.parse.unquote`` restores it; other names appear as they
are. An archive's directory is read once however many members are read
(:class:`OpenArchives`). Reading is bounded and never writes to disk:

* member names that would escape a folder (absolute, ``..``, drive letters: zip-slip)
  become ``archive_error`` rows and are never read;
* total uncompressed size, member size, member count and compression ratio are bounded
  (zip bombs become ``archive_error`` rows);
* zipfile itself never returns more than a member's declared size, and checks its CRC.
"""

from __future__ import annotations

import io
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import PurePosixPath
from typing import IO
from urllib.parse import unquote

from pixels_pipeline.dicom.errors import ArchiveError

ZIP_SCHEME = "zip://"
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # local file header, empty archive


@dataclass(frozen=True)
class ArchiveLimits:
    """Bounds that turn zip bombs into typed errors."""

    max_total_bytes: int = 8 * 1024**3  # uncompressed, whole archive
    max_member_bytes: int = 2 * 1024**3  # one member, read into memory
    max_members: int = 200_000
    max_ratio: float = 200.0  # uncompressed / compressed, per member


@dataclass(frozen=True)
class Member:
    """A readable member of an archive."""

    name: str
    size: int
    mtime: datetime
    crc: int


@dataclass(frozen=True)
class BadMember:
    """A member (or the archive itself, name ``""``) that must not be read, and why."""

    name: str
    reason: str


def is_zip(head: bytes) -> bool:
    return head[:4] in ZIP_MAGIC


def member_text(name: str) -> str:
    """A member name as it appears in URIs and relative paths: ``%`` and ``:`` encoded
    when it holds either (lossless, and never contains ``::``)."""
    if "%" in name or ":" in name:
        return name.replace("%", "%25").replace(":", "%3A")
    return name


def member_uri(archive_uri: str, name: str) -> str:
    return f"{ZIP_SCHEME}{member_text(name)}::{archive_uri}"


def split_member_uri(uri: str) -> tuple[str, str]:
    """``(archive uri, member name)`` of a ``zip://member::archive`` URI."""
    if not uri.startswith(ZIP_SCHEME) or "::" not in uri:
        raise ValueError(f"not an archive member URI: {uri!r}")
    name, archive = uri[len(ZIP_SCHEME) :].split("::", 1)
    return archive, unquote(name)


def is_safe_name(name: str) -> bool:
    """No absolute paths, drive letters, backslashes or ``..`` components."""
    if not name or name.startswith(("/", "\\")) or "\\" in name or "\x00" in name:
        return False
    if len(name) > 1 and name[1] == ":":
        return False
    return ".." not in PurePosixPath(name).parts


def list_members(
    fp: IO[bytes] | zipfile.ZipFile, *, limits: ArchiveLimits
) -> list[Member | BadMember]:
    """Check an archive's directory against ``limits``; one entry per file member.

    A broken or over-limit archive as a whole is a single ``BadMember("")``. ``fp`` is
    the archive file, or a ``ZipFile`` already open on it (its directory is not re-read).
    """
    try:
        with _zip(fp) as archive:
            infos = [i for i in archive.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        return [BadMember("", f"unreadable zip archive: {exc}")]
    if len(infos) > limits.max_members:
        return [BadMember("", f"{len(infos)} members exceed the limit of {limits.max_members}")]
    total = sum(i.file_size for i in infos)
    if total > limits.max_total_bytes:
        return [BadMember("", f"{total} uncompressed bytes exceed {limits.max_total_bytes}")]
    out: list[Member | BadMember] = []
    for info in infos:
        ratio = info.file_size / max(info.compress_size, 1)
        if not is_safe_name(info.filename):
            out.append(BadMember(info.filename, "unsafe member path (zip-slip)"))
        elif info.flag_bits & 0x1:
            out.append(BadMember(info.filename, "encrypted member"))
        elif info.file_size > limits.max_member_bytes:
            out.append(BadMember(info.filename, f"{info.file_size} bytes exceed the member limit"))
        elif info.file_size > 1024 * 1024 and ratio > limits.max_ratio:
            out.append(BadMember(info.filename, f"compression ratio {ratio:.0f} (zip bomb?)"))
        else:
            out.append(Member(info.filename, info.file_size, _mtime(info), info.CRC))
    return out


def read_member(
    fp: IO[bytes] | zipfile.ZipFile, name: str, *, limits: ArchiveLimits, head: int | None = None
) -> bytes:
    """A member's bytes (or its first ``head`` bytes), within ``limits``; ``fp`` as in
    :func:`list_members`."""
    if not is_safe_name(name):
        raise ArchiveError(f"unsafe member path (zip-slip): {name!r}")
    try:
        with _zip(fp) as archive:
            info = archive.getinfo(name)
            if info.file_size > limits.max_member_bytes:
                raise ArchiveError(f"member {name!r}: {info.file_size} bytes exceed the limit")
            with archive.open(info) as member:
                return member.read(head if head is not None else info.file_size)
    except KeyError as exc:
        raise ArchiveError(f"no member {name!r} in the archive") from exc
    except (zipfile.BadZipFile, EOFError, RuntimeError, NotImplementedError) as exc:
        raise ArchiveError(f"member {name!r}: {exc}") from exc


def open_member(fp: IO[bytes] | zipfile.ZipFile, name: str, *, limits: ArchiveLimits) -> io.BytesIO:
    """A seekable in-memory file of one member (DICOM readers need to seek)."""
    return io.BytesIO(read_member(fp, name, limits=limits))


@contextmanager
def _zip(fp: IO[bytes] | zipfile.ZipFile) -> Iterator[zipfile.ZipFile]:
    """``fp`` as a ``ZipFile``: one opened here is closed on exit, a given one is not."""
    if isinstance(fp, zipfile.ZipFile):
        yield fp
        return
    with zipfile.ZipFile(fp) as archive:
        yield archive


class OpenArchives:
    """Archives kept open while one task reads their members: each archive's central
    directory is read once, not once per member (which made a task over an archive's
    members quadratic in its member count). Use as a context manager; at most ``keep``
    archives stay open, the least recently used is closed first."""

    def __init__(self, opener: Callable[[str], IO[bytes]], *, keep: int = 4) -> None:
        self._opener = opener
        self._keep = keep
        self._open: OrderedDict[str, tuple[IO[bytes], zipfile.ZipFile]] = OrderedDict()
        self._lock = threading.Lock()

    def member(self, archive_uri: str, name: str, *, limits: ArchiveLimits) -> io.BytesIO:
        """One member of the archive at ``archive_uri``, read into memory."""
        with self._lock:
            if archive_uri in self._open:
                self._open.move_to_end(archive_uri)
                archive = self._open[archive_uri][1]
            else:
                fp = self._opener(archive_uri)
                try:
                    archive = zipfile.ZipFile(fp)
                except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
                    fp.close()
                    raise ArchiveError(f"unreadable zip archive: {exc}") from exc
                self._open[archive_uri] = (fp, archive)
                while len(self._open) > self._keep:
                    _close(*self._open.popitem(last=False)[1])
            return open_member(archive, name, limits=limits)

    def close(self) -> None:
        with self._lock:
            while self._open:
                _close(*self._open.popitem()[1])

    def __enter__(self) -> OpenArchives:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _close(fp: IO[bytes], archive: zipfile.ZipFile) -> None:
    archive.close()
    fp.close()


def _mtime(info: zipfile.ZipInfo) -> datetime:
    try:
        return datetime(*info.date_time, tzinfo=timezone.utc)
    except ValueError:
        return datetime(1980, 1, 1, tzinfo=timezone.utc)
