"""Turn a location URI (a local path, ``file://`` or ``s3://``) into a pyarrow filesystem.

Every path the pipeline stores is a URI, so a lake or landing zone on object storage
needs no other code path than configuration.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlparse

import pyarrow.fs as pafs

from pixels_pipeline.storage.archives import (
    ZIP_SCHEME,
    ArchiveLimits,
    OpenArchives,
    open_member,
    split_member_uri,
)
from pixels_pipeline.storage.local import FILE_URI, open_regular


@dataclass(frozen=True)
class StorageOptions:
    """Object-store settings; empty fields fall back to the standard ``AWS_*`` lookup.

    Instances travel to Spark tasks inside UDF closures, so the settings resolved on the
    driver are the ones every executor uses. ``repr`` never shows credentials.
    """

    endpoint_url: str | None = None  # e.g. http://127.0.0.1:5000 for a local S3 server
    region: str | None = None
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)  # temporary credentials
    anonymous: bool = False  # read public buckets without credentials (unsigned requests)
    max_attempts: int = 5  # tries per request (first try included), pyarrow and delta-rs
    retry_timeout_s: float = 60.0  # delta-rs stops retrying one request after this long

    def __repr__(self) -> str:  # never print credentials
        return (
            f"StorageOptions(endpoint_url={self.endpoint_url!r}, region={self.region!r}, "
            f"anonymous={self.anonymous}, has_credentials={self.access_key_id is not None})"
        )

    def delta_options(self) -> dict[str, str]:
        """The ``storage_options`` dict that deltalake's object store understands."""
        out: dict[str, str] = {}
        if self.endpoint_url:
            out["AWS_ENDPOINT_URL"] = self.endpoint_url
            if self.endpoint_url.startswith("http://"):
                out["AWS_ALLOW_HTTP"] = "true"
        if self.region:
            out["AWS_REGION"] = self.region
        if self.access_key_id:
            out["AWS_ACCESS_KEY_ID"] = self.access_key_id
        if self.secret_access_key:
            out["AWS_SECRET_ACCESS_KEY"] = self.secret_access_key
        if self.session_token:
            out["AWS_SESSION_TOKEN"] = self.session_token
        if self.anonymous:
            out["AWS_SKIP_SIGNATURE"] = "true"
        # object_store retries transient errors (5xx, timeouts, refused connections) with
        # exponential backoff; its defaults (10 retries, 3 min) would hang a run for minutes.
        out["max_retries"] = str(max(self.max_attempts - 1, 0))
        out["retry_timeout"] = f"{max(int(self.retry_timeout_s), 1)}s"
        return out


def scheme_of(uri: str) -> str:
    """``"file"`` for local paths, otherwise the URI scheme (``"s3"``...)."""
    scheme = urlparse(uri).scheme
    return "file" if scheme in ("", "file") or len(scheme) == 1 else scheme


def normalize_uri(uri: str) -> str:
    """Absolute local paths without ``file://``; other URIs unchanged, no trailing slash."""
    if scheme_of(uri) == "file":
        path = uri[len("file://") :] if uri.startswith("file://") else uri
        return str(Path(path).expanduser().resolve())
    return uri.rstrip("/")


def join_uri(base: str, *parts: str) -> str:
    """Join path components onto a URI with ``/``."""
    out = base.rstrip("/")
    for part in parts:
        out = f"{out}/{part.strip('/')}"
    return out


def filesystem_for(uri: str, options: StorageOptions | None = None) -> tuple[pafs.FileSystem, str]:
    """Return ``(filesystem, path_in_filesystem)`` for a URI."""
    opts = options or StorageOptions()
    scheme = scheme_of(uri)
    if scheme == "file":
        return pafs.LocalFileSystem(), normalize_uri(uri)
    if scheme in ("s3", "s3a"):
        parsed = urlparse(uri)
        endpoint = opts.endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
        return _s3_filesystem(opts, endpoint), f"{parsed.netloc}{parsed.path}".rstrip("/")
    fs, path = pafs.FileSystem.from_uri(uri)
    return fs, path


@lru_cache(maxsize=8)
def _s3_filesystem(opts: StorageOptions, endpoint: str | None) -> pafs.S3FileSystem:
    """One S3 client per settings and process: tasks that open many files reuse its
    connection pool instead of paying a client start (and TLS handshake) per file."""
    kwargs: dict[str, object] = {"anonymous": opts.anonymous}
    if endpoint:
        url = urlparse(endpoint)
        kwargs["endpoint_override"] = url.netloc or endpoint
        kwargs["scheme"] = url.scheme or "https"
    if opts.region:
        kwargs["region"] = opts.region
    if opts.access_key_id and opts.secret_access_key and not opts.anonymous:
        kwargs["access_key"] = opts.access_key_id
        kwargs["secret_key"] = opts.secret_access_key
        if opts.session_token:
            kwargs["session_token"] = opts.session_token
    # AWS "standard" retries: transient errors (throttling, 5xx, broken connections) are
    # retried with jittered exponential backoff up to max_attempts tries per request.
    kwargs["retry_strategy"] = pafs.AwsStandardS3RetryStrategy(max_attempts=opts.max_attempts)
    return pafs.S3FileSystem(**kwargs)  # type: ignore[arg-type]


def uri_for_path(base_uri: str, base_path: str, path: str) -> str:
    """Map a filesystem path found under ``base_path`` back to a URI under ``base_uri``."""
    rel = path[len(base_path) :].lstrip("/")
    return join_uri(base_uri, rel) if rel else base_uri


def open_uri(
    uri: str, options: StorageOptions | None = None, *, archives: OpenArchives | None = None
) -> BinaryIO:
    """Open a file for buffered, seekable binary reading (local files with the OS).

    ``zip://<member>::<archive uri>`` opens one archive member, read into memory within
    the default :class:`~pixels_pipeline.storage.archives.ArchiveLimits`. Local files
    open through :func:`~pixels_pipeline.storage.local.open_regular`: a link, FIFO or
    device raises a typed error; a ``file://`` URI is a stored, percent-encoded path.
    With ``archives`` (see :func:`open_archives`), archives stay open between members."""
    if uri.startswith(ZIP_SCHEME):
        archive, name = split_member_uri(uri)
        if archives is not None:
            member = archives.member(archive, name, limits=ArchiveLimits())
        else:
            with open_uri(archive, options) as fp:
                member = open_member(fp, name, limits=ArchiveLimits())
        member.name = uri  # type: ignore[attr-defined]  # pydicom reads fp.name
        return member
    if uri.startswith(FILE_URI):  # a stored local path whose name is not valid UTF-8
        return open_regular(uri)
    fs, path = filesystem_for(uri, options)
    if isinstance(fs, pafs.LocalFileSystem):
        return open_regular(path)  # regular files only, links not followed; caller closes
    return _NamedReader(fs.open_input_file(path), uri)


def open_archives(options: StorageOptions | None = None) -> OpenArchives:
    """Archives kept open across :func:`open_uri` calls of one task (close it after)."""
    return OpenArchives(lambda uri: open_uri(uri, options))


class _NamedReader(io.BufferedReader):
    """A buffered reader over a pyarrow stream that has a ``name``, like an OS file:
    pyarrow's streams have none, and pydicom reads ``fp.name`` (a file without it
    failed as ``invalid_header`` from S3 while the same file on disk parsed)."""

    def __init__(self, raw: object, uri: str) -> None:
        super().__init__(raw, buffer_size=256 * 1024)  # type: ignore[arg-type]
        self._uri = uri

    @property
    def name(self) -> str:
        return self._uri


def write_bytes(uri: str, data: bytes, options: StorageOptions | None = None) -> None:
    """Write a whole file (creating parent folders), locally or on object storage."""
    fs, path = filesystem_for(uri, options)
    parent = path.rsplit("/", 1)[0]
    if parent:
        fs.create_dir(parent, recursive=True)
    with fs.open_output_stream(path) as out:
        out.write(data)
