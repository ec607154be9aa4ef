"""The landing zone: its direct sub-folders are drops, complete once they hold _SUCCESS."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import pyarrow.fs as pafs

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
class DropListing:
    """Result of scanning the landing zone once."""

    complete: tuple[Drop, ...]
    incomplete: tuple[str, ...]  # folders without _SUCCESS yet (still being copied)
    rejected: tuple[str, ...]  # folder names that are not valid drop ids


def is_valid_drop_id(name: str) -> bool:
    return bool(DROP_ID_PATTERN.match(name))


def list_drops(
    landing_uri: str,
    *,
    options: StorageOptions | None = None,
    skip: frozenset[str] = frozenset(),
) -> DropListing:
    """List the landing zone's drops, stat-ing ``_SUCCESS`` only for folders not in ``skip``."""
    fs, root = filesystem_for(landing_uri, options)
    if fs.get_file_info(root).type == pafs.FileType.NotFound:
        return DropListing((), (), ())
    infos = fs.get_file_info(pafs.FileSelector(root, recursive=False))
    folders = sorted(i.base_name for i in infos if i.type == pafs.FileType.Directory)
    candidates = [name for name in folders if name not in skip]
    rejected = tuple(name for name in candidates if not is_valid_drop_id(name))
    valid = [name for name in candidates if is_valid_drop_id(name)]
    markers = fs.get_file_info([f"{root}/{name}/{SUCCESS_MARKER}" for name in valid])
    complete: list[Drop] = []
    incomplete: list[str] = []
    for name, marker in zip(valid, markers, strict=True):
        if marker.type == pafs.FileType.File:
            complete.append(Drop(name, join_uri(landing_uri, name), marker.mtime))
        else:
            incomplete.append(name)
    return DropListing(tuple(complete), tuple(incomplete), rejected)
