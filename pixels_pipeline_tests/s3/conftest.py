"""A real S3-compatible server (``moto_server``) on 127.0.0.1 for the S3 tests, a TCP
proxy in front of it that can cut the connection mid-run, and helpers to upload drops."""

from __future__ import annotations

import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from .faulty_proxy import TRIPPED_EXIT_CODE

SERVER_START_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_answering(url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.1)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """``http://127.0.0.1:<port>`` of a moto S3 server running for the whole session."""
    port = free_port()
    exe = str(Path(sys.executable).with_name("moto_server"))
    proc = subprocess.Popen(
        [exe, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(f"{endpoint}/moto-api/", SERVER_START_TIMEOUT_S)
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def aws_secret() -> str:
    """A secret key unique to this session, so tests can prove it never leaks anywhere."""
    return f"pixels-secret-{secrets.token_hex(12)}"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, s3_endpoint: str, aws_secret: str) -> str:
    """The standard ``AWS_*`` variables pointing at the moto server, for one test."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "pixels-test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", aws_secret)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN", "AWS_SKIP_SIGNATURE"):
        monkeypatch.delenv(name, raising=False)
    return s3_endpoint


def s3_client(endpoint: str, secret: str = "setup") -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="pixels-test-key",
        aws_secret_access_key=secret,
    )


def ensure_bucket(client: Any, bucket: str) -> None:
    if bucket not in {b["Name"] for b in client.list_buckets()["Buckets"]}:
        client.create_bucket(Bucket=bucket)


def upload_drop(
    client: Any, bucket: str, prefix: str, files: dict[str, Path], *, acl: str = "private"
) -> None:
    """Upload ``{relative path: local file}`` under ``prefix``, ``_SUCCESS`` last."""
    ensure_bucket(client, bucket)
    for rel, path in sorted(files.items()):
        client.upload_file(str(path), bucket, f"{prefix}/{rel}", ExtraArgs={"ACL": acl})
    client.put_object(Bucket=bucket, Key=f"{prefix}/_SUCCESS", Body=b"", ACL=acl)


def files_of(folder: Path) -> dict[str, Path]:
    """``{relative path: file}`` of every file below ``folder`` except ``_SUCCESS``."""
    return {
        p.relative_to(folder).as_posix(): p
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "_SUCCESS"
    }


class FaultyProxy:
    """A proxy process in front of the S3 server (``faulty_proxy.py``) that cuts every
    connection, and refuses new ones, once a request mentions a pattern: the server
    going away mid-run. ``start()`` again brings it back on the same port."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, trip_on: tuple[str, ...] = ()) -> None:
        self.stop()
        script = Path(__file__).with_name("faulty_proxy.py")
        self._proc = subprocess.Popen(
            [sys.executable, str(script), str(self.port), str(self.upstream_port), *trip_on],
            stdout=subprocess.PIPE,
        )
        assert self._proc.stdout is not None and self._proc.stdout.readline() == b"ready\n"

    @property
    def tripped(self) -> bool:
        return self._proc is not None and self._proc.poll() == TRIPPED_EXIT_CODE

    def stop(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.terminate()
            self._proc.wait(timeout=10)
            if self._proc.stdout is not None:
                self._proc.stdout.close()
            self._proc = None


@pytest.fixture
def faulty_proxy(s3_endpoint: str) -> Iterator[FaultyProxy]:
    proxy = FaultyProxy(int(s3_endpoint.rsplit(":", 1)[1]))
    proxy.start()
    yield proxy
    proxy.stop()
