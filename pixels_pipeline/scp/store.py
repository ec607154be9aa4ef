"""The SCP's writer: received files into landing-zone drops, durably and atomically.

A local landing zone gets POSIX care: each file is written under a temporary name,
fsync-ed and renamed into place; ``complete`` fsyncs the drop folder (making the renames
durable) before it writes ``_SUCCESS`` the same way. On an object store each file is one
whole upload, which becomes visible only once complete. Either way a drop is never seen
with ``_SUCCESS`` before all of its files.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import time
from pathlib import Path

import pyarrow.fs as pafs

from pixels_pipeline.scp.names import DROP_PREFIX
from pixels_pipeline.storage.landing import (
    SUCCESS_MARKER,
    is_valid_drop_id,
    list_folders,
    marker_mtimes,
)
from pixels_pipeline.storage.uri import StorageOptions, filesystem_for, normalize_uri, scheme_of

_FILE_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,254}$")


class DropStore:
    """Files of drops under one landing zone (a local folder or ``s3://`` prefix).

    The constructor does no I/O; every method raises ``OSError`` (or pyarrow's
    ``ArrowException`` on object stores) when the store cannot be written.
    """

    def __init__(self, landing_uri: str, options: StorageOptions | None = None) -> None:
        self.landing_uri = normalize_uri(landing_uri)
        self._options = options
        self._local = scheme_of(landing_uri) == "file"

    def write(self, drop_id: str, name: str, data: bytes) -> None:
        """Store one whole file in a drop (creating the drop), replacing a same-named one."""
        _check(drop_id, name)
        if self._local:
            folder = Path(self.landing_uri) / drop_id
            folder.mkdir(parents=True, exist_ok=True)
            _write_durably(folder, name, data)
            return
        fs, root = self._filesystem()
        with fs.open_output_stream(f"{root}/{drop_id}/{name}") as out:
            out.write(data)

    def complete(self, drop_id: str) -> None:
        """Publish a drop: make its files durable, then write its ``_SUCCESS`` marker."""
        _check(drop_id, SUCCESS_MARKER)
        if self._local:
            folder = Path(self.landing_uri) / drop_id
            _fsync_dir(folder)
            _write_durably(folder, SUCCESS_MARKER, b"")
            _fsync_dir(folder.parent)  # the drop folder's own entry
            return
        fs, root = self._filesystem()
        with fs.open_output_stream(f"{root}/{drop_id}/{SUCCESS_MARKER}") as out:
            out.write(b"")

    def discard(self, drop_id: str) -> bool:
        """Remove a drop that must never be read (its association did not complete);
        ``False`` when there was nothing to remove."""
        _check(drop_id, SUCCESS_MARKER)
        if self._local:
            folder = Path(self.landing_uri) / drop_id
            if not folder.exists():
                return False
            shutil.rmtree(folder)
            return True
        fs, root = self._filesystem()
        if fs.get_file_info(f"{root}/{drop_id}").type == pafs.FileType.NotFound:
            return False
        fs.delete_dir(f"{root}/{drop_id}")
        return True

    def remove_stale(self, *, older_than_s: float, now: float | None = None) -> int:
        """Remove incomplete SCP drops (no ``_SUCCESS``) untouched for ``older_than_s``:
        leftovers of associations cut by a crash. Returns how many were removed.

        The age test leaves alone the drops that another SCP process on the same landing
        zone is still receiving."""
        names = [
            f.name
            for f in list_folders(self.landing_uri, options=self._options)
            if f.name.startswith(DROP_PREFIX) and is_valid_drop_id(f.name)
        ]
        markers = marker_mtimes(self.landing_uri, names, options=self._options)
        fs, root = self._filesystem()
        cutoff = (time.time() if now is None else now) - older_than_s
        removed = 0
        for name in (n for n in names if markers[n] is None):
            if _newest_mtime(fs, f"{root}/{name}") < cutoff:
                self.discard(name)
                removed += 1
        return removed

    def _filesystem(self) -> tuple[pafs.FileSystem, str]:
        return filesystem_for(self.landing_uri, self._options)


def _check(drop_id: str, name: str) -> None:
    if not is_valid_drop_id(drop_id):
        raise ValueError(f"not a valid drop id: {drop_id!r}")
    if not _FILE_NAME.match(name):
        raise ValueError(f"not a safe file name: {name!r}")


def _write_durably(folder: Path, name: str, data: bytes) -> None:
    """Write ``folder/name`` through a fsync-ed temporary file and an atomic rename."""
    tmp = folder / f".{name}.{secrets.token_hex(4)}.part"
    try:
        with open(tmp, "xb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, folder / name)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _newest_mtime(fs: pafs.FileSystem, folder: str) -> float:
    """Newest modification time (s) of anything in ``folder``, the folder included."""
    infos = [fs.get_file_info(folder), *fs.get_file_info(pafs.FileSelector(folder, recursive=True))]
    times = [i.mtime.timestamp() for i in infos if i.mtime is not None]
    return max(times, default=0.0)
