"""The isolated decoder child: fenced in memory, time, lifetime, disk and environment."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pixels_pipeline.dicom.errors import DecoderCrashError, DecoderTimeoutError, ErrorType
from pixels_pipeline.dicom.isolated import MEMORY_LIMIT_VARIABLE, IsolatedDecoder
from pixels_pipeline.samples import find_test_file

pytest.importorskip("gdcm")
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def real_file(name: str) -> Path:
    path = find_test_file(name)
    assert path is not None
    return path


def child_pid(decoder: IsolatedDecoder) -> int:
    proc = decoder._proc
    assert proc is not None
    return proc.pid


def test_the_child_has_no_credentials_and_a_memory_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "canary-secret")
    monkeypatch.setenv("PIXELS_LAKE", "/lake")
    monkeypatch.setenv(MEMORY_LIMIT_VARIABLE, "3000")
    decoder = IsolatedDecoder()
    try:
        arr, name, _ = decoder.decode(str(real_file("JPEG-LL.dcm")), 0, "gdcm", "row-1", 120)
        assert name == "gdcm" and arr.size > 0
        pid = child_pid(decoder)
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        assert b"canary-secret" not in environ and b"PIXELS_LAKE" not in environ
        limits = Path(f"/proc/{pid}/limits").read_text()
        line = next(x for x in limits.splitlines() if x.startswith("Max address space"))
        assert line.split()[3] == str(3000 * 1024 * 1024)
    finally:
        decoder.stop()


def test_a_crash_leaves_no_copy_of_the_file_and_a_slow_child_times_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    decoder = IsolatedDecoder()
    try:
        # gdcm aborts the process on this file (SIGABRT): sent as bytes, as for S3 objects.
        data = real_file("rtdose_1frame.dcm").read_bytes()
        with pytest.raises(DecoderCrashError, match="crashed"):
            decoder.decode(data, 0, "gdcm", "row-2", 120)
        assert list(tmp_path.iterdir()) == []
        # No reply before the deadline (the fresh child is still importing): killed.
        with pytest.raises(DecoderTimeoutError) as info:
            decoder.decode(str(real_file("JPEG-LL.dcm")), 0, "gdcm", "row-3", 0.001)
        assert info.value.error_type is ErrorType.DECODER_TIMEOUT
        assert decoder._proc is None
    finally:
        decoder.stop()


# The parent forks a process that keeps the request pipe open (as a Spark daemon forking
# workers would), so the child gets no end-of-file when the parent dies.
PARENT = """
import os, sys, time
from pixels_pipeline.dicom.isolated import IsolatedDecoder
decoder = IsolatedDecoder()
decoder.decode(sys.argv[1], 0, "gdcm", "row-4", 120)
holder = os.fork()
if holder == 0:
    time.sleep(60)
    os._exit(0)
print(decoder._proc.pid, holder, flush=True)
sys.stdin.read()
"""


def test_the_child_dies_with_its_parent() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(real_file("JPEG-LL.dcm"))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    pid, holder = map(int, parent.stdout.readline().split())
    try:
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        for _ in range(100):
            if _state(pid) == "Z":
                break
            time.sleep(0.1)
        assert _state(pid) == "Z", "the decoder child outlived its parent"
    finally:
        os.kill(holder, signal.SIGKILL)
        if _state(pid) != "Z":
            os.kill(pid, signal.SIGKILL)


def _state(pid: int) -> str:
    """The process state letter; "Z" for a zombie or a process that is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0]
    except (FileNotFoundError, IndexError):
        return "Z"
