"""Turn a location URI (a local path, ``file://`` or ``s3://``) into a pyarrow filesystem.

Every path the pipeline stores is a URI, so a lake or landing zone on object storage
needs no other code path than configuration.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlparse

import pyarrow.fs as pafs


@dataclass(frozen=True)
class StorageOptions:
    """Object-store settings; empty fields fall back to the standard ``AWS_*`` lookup."""

    endpoint_url: str | None = None  # e.g. http://127.0.0.1:5000 for a local S3 server
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    anonymous: bool = False  # read public buckets without credentials

    def __repr__(self) -> str:  # never print credentials
        return (
            f"StorageOptions(endpoint_url={self.endpoint_url!r}, region={self.region!r}, "
            f"anonymous={self.anonymous})"
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
        if self.anonymous:
            out["AWS_SKIP_SIGNATURE"] = "true"
        # Single-writer-per-partition commits need no external lock for this pipeline.
        out["AWS_S3_ALLOW_UNSAFE_RENAME"] = "true"
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
        kwargs["retry_strategy"] = pafs.AwsStandardS3RetryStrategy(max_attempts=5)
        fs = pafs.S3FileSystem(**kwargs)  # type: ignore[arg-type]
        return fs, f"{parsed.netloc}{parsed.path}".rstrip("/")
    fs, path = pafs.FileSystem.from_uri(uri)
    return fs, path


def uri_for_path(base_uri: str, base_path: str, path: str) -> str:
    """Map a filesystem path found under ``base_path`` back to a URI under ``base_uri``."""
    rel = path[len(base_path) :].lstrip("/")
    return join_uri(base_uri, rel) if rel else base_uri


def open_uri(uri: str, options: StorageOptions | None = None) -> BinaryIO:
    """Open a file for buffered, seekable binary reading (local files with the OS)."""
    fs, path = filesystem_for(uri, options)
    if isinstance(fs, pafs.LocalFileSystem):
        return open(path, "rb")  # the caller closes it
    return io.BufferedReader(fs.open_input_file(path), buffer_size=256 * 1024)  # type: ignore[arg-type]


def write_bytes(uri: str, data: bytes, options: StorageOptions | None = None) -> None:
    """Write a whole file (creating parent folders), locally or on object storage."""
    fs, path = filesystem_for(uri, options)
    parent = path.rsplit("/", 1)[0]
    if parent:
        fs.create_dir(parent, recursive=True)
    with fs.open_output_stream(path) as out:
        out.write(data)
