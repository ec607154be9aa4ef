"""The landing zone: its direct sub-folders are drops, complete once they hold _SUCCESS."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

import pyarrow.fs as pafs

from pixels_pipeline.storage.local import scan, text_of
from pixels_pipeline.storage.uri import StorageOptions, filesystem_for, join_uri

SUCCESS_MARKER = "_SUCCESS"
# Drop ids become Dagster partition keys and Hive-style ``drop_id=<id>`` folder names,
# so they are restricted to characters that need no escaping anywhere.
DROP_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class Drop:
    """One complete drop in the landing zone."""

    drop_id: str
    uri: str
    success_mtime: datetime | None  # modification time of its _SUCCESS marker


@dataclass(frozen=True)
class Folder:
    """A direct sub-folder of the landing zone."""

    name: str
    mtime_us: int | None  # None on object stores, which have no folder times


@dataclass(frozen=True)
class DropListing:
    """Result of scanning the landing zone once."""

    complete: tuple[Drop, ...]
    incomplete: tuple[str, ...]  # folders without _SUCCESS yet (still being copied)
    rejected: tuple[str, ...]  # folder names that are not valid drop ids


class InvalidDropIdError(ValueError):
    """A drop id (partition key) that could name a folder outside the landing zone."""


def is_valid_drop_id(name: str) -> bool:
    return bool(DROP_ID_PATTERN.fullmatch(name))


def check_drop_id(drop_id: str) -> str:
    """Return ``drop_id`` if it is valid, else raise :class:`InvalidDropIdError`.

    Called wherever a drop id becomes a path or a partition (listing, table writes), not
    only by the sensor: a partition added by hand (UI, CLI) is refused before anything
    is listed or written. ``..``, ``.`` and anything with ``/`` never match."""
    if not isinstance(drop_id, str) or not is_valid_drop_id(drop_id):
        raise InvalidDropIdError(
            f"invalid drop id {drop_id!r}: a drop id must match {DROP_ID_PATTERN.pattern} "
            "(a direct sub-folder of the landing zone); nothing was listed or written"
        )
    return drop_id


def check_drop_ids(drop_ids: Iterable[str]) -> list[str]:
    """:func:`check_drop_id` on each id."""
    return [check_drop_id(d) for d in drop_ids]


def _micros(mtime: datetime | None) -> int | None:
    return int(mtime.timestamp() * 1_000_000) if mtime is not None else None


def list_folders(landing_uri: str, *, options: StorageOptions | None = None) -> list[Folder]:
    """The landing zone's direct sub-folders, from ONE non-recursive listing."""
    fs, root = filesystem_for(landing_uri, options)
    if isinstance(fs, pafs.LocalFileSystem):
        return _local_folders(root)
    if fs.get_file_info(root).type == pafs.FileType.NotFound:
        return []
    infos = fs.get_file_info(pafs.FileSelector(root, recursive=False))
    return sorted(
        (Folder(i.base_name, _micros(i.mtime)) for i in infos if i.type == pafs.FileType.Directory),
        key=lambda f: f.name,
    )


def _local_folders(root: str) -> list[Folder]:
    """Real sub-folders (links are not followed); names that are not valid UTF-8 come
    percent-encoded, which no valid drop id matches, so they are rejected, not fatal."""
    if not os.path.isdir(root):
        return []
    entries = scan(os.fsencode(root), recursive=False)
    return sorted(
        (
            Folder(text_of(e.relative), _micros(e.mtime))
            for e in entries
            if e.kind == "unlisted" and e.error is None
        ),
        key=lambda f: f.name,
    )


def marker_mtimes(
    landing_uri: str, names: Iterable[str], *, options: StorageOptions | None = None
) -> dict[str, int | None]:
    """Modification time (µs) of each named drop's ``_SUCCESS``; None where it is missing."""
    fs, root = filesystem_for(landing_uri, options)
    wanted = list(names)
    infos = fs.get_file_info([f"{root}/{name}/{SUCCESS_MARKER}" for name in wanted])
    return {
        name: (_micros(i.mtime) or 0) if i.type == pafs.FileType.File else None
        for name, i in zip(wanted, infos, strict=True)
    }


def list_drops(
    landing_uri: str,
    *,
    options: StorageOptions | None = None,
    skip: frozenset[str] = frozenset(),
) -> DropListing:
    """List the landing zone's drops, stat-ing ``_SUCCESS`` only for folders not in ``skip``."""
    names = [f.name for f in list_folders(landing_uri, options=options) if f.name not in skip]
    rejected = tuple(n for n in names if not is_valid_drop_id(n))
    valid = [n for n in names if is_valid_drop_id(n)]
    markers = marker_mtimes(landing_uri, valid, options=options)
    complete = tuple(
        Drop(n, join_uri(landing_uri, n), _datetime(markers[n]))
        for n in valid
        if markers[n] is not None
    )
    incomplete = tuple(n for n in valid if markers[n] is None)
    return DropListing(complete, incomplete, rejected)


def _datetime(micros: int | None) -> datetime | None:
    return None if micros is None else datetime.fromtimestamp(micros / 1e6, tz=timezone.utc)
