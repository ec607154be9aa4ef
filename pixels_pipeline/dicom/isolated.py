"""The child interpreter that runs crash-prone decoders (gdcm) away from this process.

gdcm can abort the whole process (``SIGABRT`` from an uncaught C++ exception, seen on
``rtdose_1frame.dcm``, ``rtdose_expb_1frame.dcm`` and ``rtdose_rle_1frame.dcm``); inside a
Spark task that would kill the Python worker and lose the batch. So it runs in one
long-lived child interpreter started with ``subprocess`` (a fresh process like
multiprocessing's ``spawn``; never ``fork`` of a threaded, JVM-attached parent). If the
child dies, the caller gets a :class:`DecoderCrashError` and the next call starts a fresh
child. The child limits decoder threads to one and pins itself to one CPU.

The child is fenced in:

* memory: its address space is capped (``RLIMIT_AS``, :data:`MEMORY_LIMIT_VARIABLE`, in
  MiB, default :data:`DEFAULT_MEMORY_MB`; ``0`` for none); running out is a
  :class:`DecoderCrashError`;
* time: every exchange has a deadline; a child that misses it is killed and the call
  raises :class:`DecoderTimeoutError`;
* lifetime: it dies with its parent (``PR_SET_PDEATHSIG`` on Linux, and it exits at the
  end of its request pipe). Linux sends the signal when the *thread* that started the
  child ends: a child started from a short-lived thread goes with it, and the next call
  starts a fresh one (Spark's Python workers call from their main thread);
* disk: file bytes reach gdcm through an anonymous in-memory file (``memfd``), so a crash
  leaves no copy of a DICOM file behind;
* environment: it gets an allow-list of variables (paths, locale, thread counts), no
  credentials: it never opens anything but what it is sent.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from multiprocessing.connection import Connection
from typing import Final

import numpy as np

from pixels_pipeline.dicom.errors import (
    DecodeError,
    DecoderCrashError,
    DecoderTimeoutError,
    DicomError,
    InvalidHeaderError,
    NoPixelDataError,
    NotDicomError,
    TruncatedError,
    UnsupportedTransferSyntaxError,
)

__all__ = [
    "DEFAULT_MEMORY_MB",
    "ISOLATED",
    "MEMORY_LIMIT_VARIABLE",
    "IsolatedDecoder",
    "child_environment",
    "child_main",
    "gdcm_read_file",
]

Frame = tuple[np.ndarray, str, str]
"""(array, decoder name, photometric interpretation of the array)."""

_CHILD_ENV: Final = {"OMP_NUM_THREADS": "1", "OPENJPEG_NUM_THREADS": "1", "GDCM_NUM_THREADS": "1"}
# What the child may inherit: where programs, libraries and temporary files are, and the
# locale. Everything else (AWS_*, tokens, passwords, the lake's settings) stays behind.
_INHERITED: Final = ("PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "LD_LIBRARY_PATH")
_INHERITED_PREFIXES: Final = ("LC_",)
MEMORY_LIMIT_VARIABLE: Final = "PIXELS_PIPELINE_DECODER_MEMORY_MB"
DEFAULT_MEMORY_MB: Final = 4096
_PR_SET_PDEATHSIG: Final = 1


def child_environment(parent: Mapping[str, str]) -> dict[str, str]:
    """The isolated child's environment: the allow-listed part of ``parent``, one decoder
    thread, the parent's import path and memory limit."""
    env = {k: v for k, v in parent.items() if k in _INHERITED or k.startswith(_INHERITED_PREFIXES)}
    env.update(_CHILD_ENV)
    env["PYTHONPATH"] = os.pathsep.join(p or os.getcwd() for p in sys.path)
    env[MEMORY_LIMIT_VARIABLE] = parent.get(MEMORY_LIMIT_VARIABLE, str(DEFAULT_MEMORY_MB))
    return env


class IsolatedDecoder:
    """A long-lived child interpreter that runs the crash-prone plugins.

    Started with ``subprocess`` (a fresh interpreter, like multiprocessing's ``spawn``
    but without re-importing the parent's ``__main__``, which breaks under pytest,
    Spark workers and scripts without a main guard). Requests and replies are pickled
    over two pipes. One child per process, one request at a time (a lock serialises
    threads); a dead or hung child is replaced on the next call.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._send: Connection | None = None
        self._recv: Connection | None = None

    def _start(self) -> tuple[subprocess.Popen[bytes], Connection, Connection]:
        if self._proc is not None and self._proc.poll() is None:
            assert self._send is not None and self._recv is not None
            return self._proc, self._send, self._recv
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        code = (
            f"from {__name__} import child_main; "
            f"child_main({to_child_r}, {from_child_w}, {os.getpid()})"
        )
        proc = subprocess.Popen(
            [sys.executable, "-c", code],
            pass_fds=(to_child_r, from_child_w),
            env=child_environment(os.environ),
            stdin=subprocess.DEVNULL,
            close_fds=True,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._proc = proc
        self._send = Connection(to_child_w, readable=False)
        self._recv = Connection(from_child_r, writable=False)
        return proc, self._send, self._recv

    def stop(self) -> None:
        with self._lock:
            self._stop_locked()

    def _stop_locked(self) -> None:
        for conn in (self._send, self._recv):
            if conn is not None:
                conn.close()
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait(5)
        self._proc = self._send = self._recv = None

    def decode(
        self, source: str | bytes, index: int, plugin: str, name: str, timeout: float
    ) -> Frame:
        with self._lock:
            proc, send, recv = self._start()
            try:
                send.send((source, index, plugin, name))
                if not recv.poll(timeout):
                    self._stop_locked()
                    raise DecoderTimeoutError(
                        f"{name}: {plugin} timed out after {timeout:g} s in the isolated decoder"
                    )
                reply = recv.recv()
            except (EOFError, OSError) as exc:
                code = proc.wait(5)
                self._stop_locked()
                how = f"signal {-code}" if code < 0 else f"exit code {code}"
                raise DecoderCrashError(
                    f"{name}: {plugin} crashed the isolated decoder ({how})"
                ) from exc
        if reply[0] == "ok":
            _, arr, decoder, pi = reply
            return arr, decoder, pi
        _, kind, message = reply
        error_class = {cls.__name__: cls for cls in _ERROR_CLASSES}.get(kind, DecodeError)
        raise error_class(message)


_ERROR_CLASSES: Final = (
    DecodeError,
    DecoderCrashError,
    InvalidHeaderError,
    NoPixelDataError,
    NotDicomError,
    TruncatedError,
    UnsupportedTransferSyntaxError,
)
ISOLATED = IsolatedDecoder()
atexit.register(ISOLATED.stop)


def child_main(read_fd: int, write_fd: int, parent_pid: int | None = None) -> None:
    """Child loop: decode requests until the pipe closes. Runs only in the child."""
    _fence(parent_pid)
    # pydicom's warnings quote element values (names, dates): per-file issues become
    # error rows, never lines on the run's stderr.
    warnings.filterwarnings("ignore", module="pydicom")
    from pixels_pipeline.dicom.decode import _decode_in_child

    recv, send = Connection(read_fd, writable=False), Connection(write_fd, readable=False)
    if hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpus[os.getpid() % len(cpus)]})
    while True:
        try:
            source, index, plugin, name = recv.recv()
        except (EOFError, OSError):
            return
        try:
            frame = _decode_in_child(source, index, plugin, name)
            send.send(("ok", frame.arr, frame.decoder, frame.photometric_interpretation))
        except DicomError as exc:
            send.send(("error", type(exc).__name__, exc.message))
        except MemoryError:
            limit = os.environ.get(MEMORY_LIMIT_VARIABLE, "")
            message = f"{name}: {plugin} ran out of memory (limit {limit} MiB)"
            send.send(("error", "DecoderCrashError", message))
        except Exception as exc:
            send.send(
                ("error", "DecodeError", f"{name}: {plugin} failed: {type(exc).__name__}: {exc}")
            )


def _fence(parent_pid: int | None) -> None:
    """In the child: die with the parent, cap the address space."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if parent_pid is not None and os.getppid() != parent_pid:
            os._exit(1)  # the parent died before the death signal was armed
    megabytes = int(os.environ.get(MEMORY_LIMIT_VARIABLE) or 0)
    if megabytes > 0:
        limit = megabytes * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


@contextmanager
def _as_file(data: bytes) -> Iterator[str]:
    """A file name for ``data`` that no crash can leave on disk: an anonymous memory file
    where the OS has them (Linux), else a temporary file."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("dicom", os.MFD_CLOEXEC)
        try:
            with os.fdopen(os.dup(fd), "wb") as fh:
                fh.write(data)
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    with tempfile.NamedTemporaryFile(suffix=".dcm") as tmp:
        tmp.write(data)
        tmp.flush()
        yield tmp.name


def gdcm_read_file(source: str | bytes, index: int, name: str) -> Frame:
    """Frame ``index`` through gdcm's whole-file reader (the call that can abort: only
    ever used inside the child)."""
    import gdcm

    if isinstance(source, bytes):
        with _as_file(source) as path:
            return gdcm_read_file(path, index, name)
    reader = gdcm.ImageReader()
    reader.SetFileName(source)
    if not reader.Read():
        raise DecodeError(f"{name}: gdcm could not read the file")
    image = reader.GetImage()
    buf = image.GetBuffer().encode("utf-8", "surrogateescape")
    fmt = image.GetPixelFormat()
    bits, signed, spp = (
        fmt.GetBitsAllocated(),
        fmt.GetPixelRepresentation() == 1,
        fmt.GetSamplesPerPixel(),
    )
    dtype = np.dtype(f"{'i' if signed else 'u'}{max(bits, 8) // 8}")
    cols, rows = image.GetDimension(0), image.GetDimension(1)
    frame = np.frombuffer(buf, dtype=dtype).reshape(-1, rows, cols, spp)[index]
    arr = frame[..., 0] if spp == 1 else frame
    pi = str(image.GetPhotometricInterpretation().GetString()).strip()
    return arr.copy(), "gdcm", pi
