"""List a drop's files and describe each one as a catalog row (pure functions)."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import PurePosixPath
from typing import IO, Any

import pyarrow.fs as pafs

from pixels_pipeline.dicom.errors import ErrorType, classify
from pixels_pipeline.dicom.sniff import HEAD_BYTES, looks_like_dicom
from pixels_pipeline.storage.archives import (
    ArchiveLimits,
    BadMember,
    Member,
    is_zip,
    list_members,
    member_text,
    member_uri,
    read_member,
)
from pixels_pipeline.storage.landing import SUCCESS_MARKER
from pixels_pipeline.storage.local import Kind, open_regular, path_bytes, scan, stored_path, text_of
from pixels_pipeline.storage.uri import join_uri


@dataclass(frozen=True)
class FileEntry:
    """One file found under a drop."""

    drop_id: str
    drop_uri: str
    relative_path: str
    size: int
    mtime: datetime | None
    uri: str | None = None  # the stored path; default: relative_path joined onto drop_uri


@dataclass(frozen=True)
class Listed:
    """One entry of a listing: a file, or something that is not read (``kind``).

    ``path`` is the stored path (see :mod:`pixels_pipeline.storage.local` for local
    names that are not valid UTF-8) and ``relative_path`` its part below the drop.
    ``kind="unlisted"`` without ``error`` is a sub-folder still to walk."""

    path: str
    relative_path: str
    size: int
    mtime: datetime | None
    kind: Kind = "file"
    error: str | None = None


def list_entries(
    fs: pafs.FileSystem, drop_root: str, folder: str, *, is_local: bool, recursive: bool
) -> Iterator[Listed]:
    """Entries below ``folder`` of the drop at ``drop_root`` (both file system paths).

    Local folders are read with ``os.scandir`` on bytes paths: links are never followed,
    FIFOs, sockets and devices are entries of their own kind, names need not be UTF-8.
    Object stores hold only files (and folders, which are prefixes). The drop's
    ``_SUCCESS`` marker is skipped.
    """
    if is_local:
        root = path_bytes(drop_root)
        start = path_bytes(folder)[len(root) :].lstrip(b"/")
        for e in scan(root, start, recursive=recursive):
            if e.relative == SUCCESS_MARKER.encode():
                continue
            path = stored_path(os.path.join(root, e.relative))
            yield Listed(path, text_of(e.relative), e.size, e.mtime, e.kind, e.error)
        return
    for info in fs.get_file_info(pafs.FileSelector(folder, recursive=recursive)):
        relative = info.path[len(drop_root) :].lstrip("/")
        if info.type == pafs.FileType.File and relative != SUCCESS_MARKER:
            yield Listed(info.path, relative, info.size or 0, info.mtime)
        elif info.type == pafs.FileType.Directory and not recursive:
            yield Listed(info.path, relative, 0, None, "unlisted")


def entry_uri(drop_uri: str, path: str, relative_path: str, *, is_local: bool) -> str:
    """The URI a listed file is cataloged under (its ``path`` column, hashed into its
    ``row_id``): a local file's stored path, or the relative path joined onto the drop's
    URI on an object store."""
    return path if is_local else join_uri(drop_uri, relative_path)


def row_id_of(uri: str) -> str:
    """Stable id of a file: the first 128 bits of sha256 of its URI, in hex."""
    return hashlib.sha256(uri.encode("utf-8")).hexdigest()[:32]


def fingerprint_of(size: int, mtime: datetime | None, sha256: str | None = None) -> str:
    """``size:mtime_us`` (``:sha256`` appended when content hashing is on)."""
    stamp = int(mtime.timestamp() * 1_000_000) if mtime is not None else 0
    return f"{size}:{stamp}" + (f":{sha256}" if sha256 else "")


def describe_file(
    fs: pafs.FileSystem,
    fs_path: str,
    entry: FileEntry,
    *,
    is_local: bool,
    is_anon: bool,
    ingested_at: datetime,
    hash_content: bool = False,
    limits: ArchiveLimits | None = None,
) -> list[dict[str, Any]]:
    """Catalog rows for one file: reads its first 132 bytes to decide ``is_dicom`` (with
    ``hash_content``, all of it for the fingerprint). A zip archive yields one row per
    member instead (or error rows for members that must not be read)."""
    uri = entry.uri or join_uri(entry.drop_uri, entry.relative_path)
    row = _base_row(uri, entry, is_anon=is_anon, ingested_at=ingested_at)
    row["local_path"] = fs_path if is_local else None
    try:
        with open_regular(fs_path) if is_local else fs.open_input_file(fs_path) as fh:
            head = fh.read(HEAD_BYTES)
            if is_zip(head):
                fh.seek(0)
                buffered: IO[bytes] = (
                    fh
                    if is_local  # already buffered
                    else io.BufferedReader(fh, buffer_size=1 << 20)  # type: ignore[arg-type,type-var]
                )
                return _describe_members(buffered, uri, entry, row, limits or ArchiveLimits())
            row["is_dicom"] = looks_like_dicom(head)
            if hash_content:
                digest = hashlib.sha256(head)
                while chunk := fh.read(1 << 20):
                    digest.update(chunk)
                row["fingerprint"] = fingerprint_of(entry.size, entry.mtime, digest.hexdigest())
    except Exception as exc:  # unreadable file: still cataloged, with a typed error
        error_type, message = classify(exc)
        row["error_type"], row["error_message"] = error_type.value, f"{uri}: {message}"
    return [row]


def unread_row(
    entry: FileEntry, kind: Kind, message: str, is_anon: bool, ingested_at: datetime
) -> dict[str, Any]:
    """The row of an entry that is not read: a ``symlink``, a ``special_file`` (FIFO,
    socket, device) or a ``read_error`` for a folder that could not be listed."""
    uri = entry.uri or join_uri(entry.drop_uri, entry.relative_path)
    row = _base_row(uri, entry, is_anon=is_anon, ingested_at=ingested_at)
    error_type = {"symlink": ErrorType.SYMLINK, "special_file": ErrorType.SPECIAL_FILE}.get(
        kind, ErrorType.READ_ERROR
    )
    row["error_type"] = error_type.value
    row["error_message"] = f"{uri}: {message}"
    return row


def _base_row(
    uri: str, entry: FileEntry, *, is_anon: bool, ingested_at: datetime
) -> dict[str, Any]:
    suffix = PurePosixPath(entry.relative_path).suffix
    return {
        "row_id": row_id_of(uri),
        "path": uri,
        "drop_id": entry.drop_id,
        "fingerprint": fingerprint_of(entry.size, entry.mtime),
        "relative_path": entry.relative_path,
        "local_path": None,
        "extension": suffix[1:].lower() if suffix else "",
        "path_tags": list(PurePosixPath(entry.relative_path).parts),
        "length": entry.size,
        "modification_time": entry.mtime.astimezone(timezone.utc) if entry.mtime else None,
        "is_dicom": False,
        "is_anon": is_anon,
        "ingested_at": ingested_at,
        "error_type": None,
        "error_message": None,
    }


def _describe_members(
    fh: IO[bytes],
    archive_uri: str,
    entry: FileEntry,
    archive_row: dict[str, Any],
    limits: ArchiveLimits,
) -> list[dict[str, Any]]:
    """One row per member, named ``<archive>::<member>``; bad members as error rows.
    The archive's directory is read once (one open ``ZipFile`` for every member)."""
    try:
        archive = zipfile.ZipFile(fh)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        bad = dict(archive_row)
        bad["error_type"] = ErrorType.ARCHIVE_ERROR.value
        bad["error_message"] = f"{archive_uri}: unreadable zip archive: {exc}"
        return [bad]
    with archive:
        return _member_rows(archive, archive_uri, entry, archive_row, limits)


def _member_rows(
    archive: zipfile.ZipFile,
    archive_uri: str,
    entry: FileEntry,
    archive_row: dict[str, Any],
    limits: ArchiveLimits,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for member in list_members(archive, limits=limits):
        if isinstance(member, BadMember) and not member.name:
            bad = dict(archive_row)
            bad["error_type"] = ErrorType.ARCHIVE_ERROR.value
            bad["error_message"] = f"{archive_uri}: {member.reason}"
            rows.append(bad)
            continue
        uri = member_uri(archive_uri, member.name)
        size = member.size if isinstance(member, Member) else 0
        mtime = member.mtime if isinstance(member, Member) else entry.mtime
        relative = f"{entry.relative_path}::{member_text(member.name)}"
        sub = FileEntry(entry.drop_id, entry.drop_uri, relative, size, mtime)
        row = _base_row(
            uri, sub, is_anon=archive_row["is_anon"], ingested_at=archive_row["ingested_at"]
        )
        row["path_tags"] = [
            *PurePosixPath(entry.relative_path).parts,
            *PurePosixPath(member.name).parts,
        ]
        if isinstance(member, BadMember):
            row["error_type"] = ErrorType.ARCHIVE_ERROR.value
            row["error_message"] = f"{uri}: {member.reason}"
        else:
            row["fingerprint"] = f"{fingerprint_of(size, mtime)}:crc{member.crc:08x}"
            try:
                row["is_dicom"] = looks_like_dicom(
                    read_member(archive, member.name, limits=limits, head=HEAD_BYTES)
                )
            except Exception as exc:
                error_type, message = classify(exc)
                row["error_type"], row["error_message"] = error_type.value, f"{uri}: {message}"
        rows.append(row)
    return rows
