"""Decode one frame of pixel data, choosing the decoder per transfer syntax.

What: :func:`decode_frame` returns frame ``index`` of a DICOM file (path, bytes, binary
file object or :class:`~pydicom.dataset.Dataset`) as a numpy array, together with the
name of the decoder that produced it and the photometric interpretation of that array.

Why this module exists:

* Memory stays bounded on big multi-frame files: only the requested frame is read and
  decoded (pydicom 3's per-frame decoding, the machinery behind
  ``pydicom.pixels.pixel_array(src, index=i)``), never the whole volume.
* The decoder order per transfer syntax is a measured table (:data:`DECODER_ORDER`);
  when one plugin fails the next one is tried.
* gdcm can abort the whole process (``SIGABRT`` from an uncaught C++ exception, seen on
  ``rtdose_1frame.dcm``, ``rtdose_expb_1frame.dcm`` and ``rtdose_rle_1frame.dcm``). Inside
  a Spark task that kills the Python worker and loses the batch. So gdcm never runs in
  this process: it runs in one long-lived child interpreter started with ``subprocess``
  (a fresh process like multiprocessing's ``spawn``; never ``fork`` of a threaded,
  JVM-attached parent). If the child dies, the caller gets a
  :class:`DecoderCrashError` and the next call starts a fresh child.
* Thread limits: the gdcm child sets ``OMP_NUM_THREADS``, ``OPENJPEG_NUM_THREADS`` and
  ``GDCM_NUM_THREADS`` to 1 before importing gdcm and pins itself to one CPU with
  ``os.sched_setaffinity``, so gdcm's extra decoder threads share one core instead of
  competing with the Spark executor's other task slots. The in-process decoders (Pillow,
  pylibjpeg, pydicom's numpy code) decode single-threaded.
"""

from __future__ import annotations

import atexit
import io
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, BinaryIO, Final, cast

import numpy as np
from pydicom import dcmread, uid
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.filereader import _read_file_meta_info, read_preamble
from pydicom.pixels.decoders.base import get_decoder
from pydicom.pixels.utils import as_pixel_options

from pixels_pipeline.dicom.errors import (
    DecodeError,
    DecoderCrashError,
    DicomError,
    InvalidHeaderError,
    NoPixelDataError,
    NotDicomError,
    TruncatedError,
    UnsupportedTransferSyntaxError,
)

__all__ = [
    "DECODER_ORDER",
    "ISOLATED_PLUGINS",
    "DecodedFrame",
    "FrameSource",
    "decode_frame",
    "decoder_order",
    "shutdown_isolated_decoder",
]

FrameSource = Dataset | str | os.PathLike[str] | bytes | BinaryIO
"""Anything :func:`decode_frame` reads: a dataset, a path, file bytes or a binary file."""

_NATIVE: Final = ("pydicom",)

# Plugin order per transfer syntax, fastest first. Measured on the 5,000-file corpus
# (see /work/shared/FACTS.md, "DICOM decoding"): Pillow is fastest for JPEG baseline;
# gdcm is 2-2.7x faster than pylibjpeg for JPEG lossless (but spawns extra threads, and
# runs isolated here); pylibjpeg-rle is 2.4x faster than pydicom's RLE; only pylibjpeg
# decodes JPGExtended.dcm (12-bit JPEG extended). Where nothing was measured (JPEG-LS,
# JPEG 2000) the in-process decoder goes first because it avoids the child round trip.
# Native syntaxes are decoded by pydicom's numpy code; gdcm is never used for them.
DECODER_ORDER: Final[dict[str, tuple[str, ...]]] = {
    uid.ImplicitVRLittleEndian: _NATIVE,
    uid.ExplicitVRLittleEndian: _NATIVE,
    uid.DeflatedExplicitVRLittleEndian: _NATIVE,
    uid.ExplicitVRBigEndian: _NATIVE,
    uid.JPEGBaseline8Bit: ("pillow", "pylibjpeg", "gdcm"),
    uid.JPEGExtended12Bit: ("pylibjpeg", "pillow", "gdcm"),
    uid.JPEGLossless: ("gdcm", "pylibjpeg"),
    uid.JPEGLosslessSV1: ("gdcm", "pylibjpeg"),
    uid.JPEGLSLossless: ("pylibjpeg", "gdcm"),
    uid.JPEGLSNearLossless: ("pylibjpeg", "gdcm"),
    uid.JPEG2000Lossless: ("pylibjpeg", "gdcm", "pillow"),
    uid.JPEG2000: ("pylibjpeg", "gdcm", "pillow"),
    uid.HTJ2KLossless: ("pylibjpeg",),
    uid.HTJ2KLosslessRPCL: ("pylibjpeg",),
    uid.HTJ2K: ("pylibjpeg",),
    uid.RLELossless: ("pylibjpeg", "pydicom"),
}

ISOLATED_PLUGINS: Final = frozenset({"gdcm"})
"""Plugins that only ever run in the child process (they can abort the process)."""

_PIXEL_VRS: Final = frozenset({"OB", "OW", "OD", "OF", "OL", "OV", "UN"})
_CHILD_ENV: Final = {"OMP_NUM_THREADS": "1", "OPENJPEG_NUM_THREADS": "1", "GDCM_NUM_THREADS": "1"}


@dataclass(frozen=True, eq=False)
class DecodedFrame:
    """One decoded frame.

    ``photometric_interpretation`` describes ``arr`` as returned, which can differ from
    the dataset's value: YBR_FULL/YBR_FULL_422 come back as RGB (pydicom's ``as_rgb``
    default, or the JPEG decoder itself converted), and JPEG 2000 YBR_RCT/YBR_ICT come
    back as RGB when the decoder applied the inverse component transform.
    """

    arr: np.ndarray
    decoder: str
    photometric_interpretation: str


def decoder_order(transfer_syntax: str) -> tuple[str, ...]:
    """Return the plugins tried, in order, for ``transfer_syntax``.

    Raises :class:`UnsupportedTransferSyntaxError` for syntaxes no installed decoder handles.
    """
    try:
        return DECODER_ORDER[transfer_syntax]
    except KeyError:
        name = uid.UID(transfer_syntax).name
        raise UnsupportedTransferSyntaxError(
            f"no pixel data decoder for transfer syntax {name} ({transfer_syntax})"
        ) from None


def decode_frame(
    source: FrameSource,
    index: int = 0,
    *,
    plugins: Sequence[str] | None = None,
    timeout: float = 120.0,
    label: str | None = None,
) -> DecodedFrame:
    """Decode frame ``index`` (0-based) of ``source`` without decoding other frames.

    ``plugins`` overrides :data:`DECODER_ORDER` (e.g. ``("gdcm",)`` to force gdcm);
    ``timeout`` bounds one isolated decode in seconds; ``label`` names the file in error
    messages (defaults to the path, or ``"<bytes>"``).
    Raises :class:`NoPixelDataError`, :class:`UnsupportedTransferSyntaxError`,
    :class:`TruncatedError`, :class:`DecoderCrashError` or :class:`DecodeError`.
    """
    name = label or _label(source)
    with _PixelSource(source, name) as pixels:
        if not 0 <= index < pixels.number_of_frames:
            raise DecodeError(
                f"{name}: frame index {index} out of range "
                f"(the file has {pixels.number_of_frames} frames)"
            )
        order = tuple(plugins) if plugins is not None else decoder_order(pixels.transfer_syntax)
        failures: list[DicomError] = []
        for plugin in order:
            try:
                if plugin in ISOLATED_PLUGINS:
                    return _ISOLATED.decode(pixels.portable(), index, plugin, name, timeout)
                return pixels.decode(index, plugin)
            except DicomError as exc:
                failures.append(exc)
    raise _combine(failures, name, pixels.transfer_syntax)


def shutdown_isolated_decoder() -> None:
    """Stop the isolated decoder child (it is started again on demand)."""
    _ISOLATED.stop()


def _label(source: FrameSource) -> str:
    if isinstance(source, str | os.PathLike):
        return os.fspath(source)
    name = getattr(source, "name", None)
    return name if isinstance(name, str) else "<bytes>"


def _combine(failures: list[DicomError], name: str, ts: str) -> DicomError:
    """One error for a frame no plugin decoded: the shared type, else a DecodeError."""
    kinds = {type(exc) for exc in failures}
    if len(kinds) == 1:
        (kind,) = kinds
        if len(failures) == 1:
            return failures[0]
        return kind("; ".join(exc.message for exc in failures))
    details = "; ".join(exc.message for exc in failures) or "no plugin tried"
    return DecodeError(f"{name}: no decoder could decode {uid.UID(ts).name}: {details}")


class _PixelSource:
    """Positions a file at its Pixel Data value and decodes frames from there.

    Uses ``pydicom.pixels.utils._array_common``, the routine behind the public
    ``pixel_array(src, index=...)``: the public function drops the decoder's output
    metadata, and that metadata says whether YBR data was already converted to RGB.
    """

    def __init__(self, source: FrameSource, name: str) -> None:
        self._source = source
        self._name = name
        self._file: BinaryIO | None = None
        self._src: Dataset | BinaryIO
        self._opts: dict[str, Any] = {}
        self._start = 0
        self.transfer_syntax = ""
        self.number_of_frames = 1

    def __enter__(self) -> _PixelSource:
        source = self._source
        if isinstance(source, Dataset):
            self._open_dataset(source)
            return self
        f: BinaryIO
        if isinstance(source, str | os.PathLike):
            try:
                self._file = f = open(source, "rb")
            except OSError as exc:
                raise DecodeError(f"{self._name}: cannot open: {exc.strerror}") from exc
        elif isinstance(source, bytes | bytearray | memoryview):
            f = io.BytesIO(source)
        else:
            f = cast(BinaryIO, source)
        self._open_file(f)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            self._file.close()

    def _open_dataset(self, ds: Dataset) -> None:
        ts = getattr(ds, "file_meta", Dataset()).get("TransferSyntaxUID")
        if not ts:
            raise DecodeError(f"{self._name}: no (0002,0010) Transfer Syntax UID")
        if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
            raise NoPixelDataError(f"{self._name}: no Pixel Data element")
        self.transfer_syntax = str(ts)
        self._src = ds
        self._opts = as_pixel_options(ds)
        self.number_of_frames = int(ds.get("NumberOfFrames") or 1)

    def _open_file(self, f: BinaryIO) -> None:
        from pydicom.pixels.utils import _array_common

        f.seek(0)
        try:
            # Only the file meta group: dcmread(specific_tags=...) still walks the whole
            # header: 3 % of a thumbnail's CPU time on the benchmark drop.
            read_preamble(f, False)
            meta = _read_file_meta_info(f)
        except InvalidDicomError:
            # No preamble/file meta (a headerless dataset, sniffed as DICOM upstream):
            # pydicom's full reader infers the encoding and sets the transfer syntax.
            f.seek(0)
            self._open_dataset(_read_headerless(f, self._name))
            return
        except (EOFError, ValueError, KeyError, TypeError) as exc:
            raise NotDicomError(f"{self._name}: not a DICOM file ({type(exc).__name__})") from exc
        f.seek(0)
        if meta.get("TransferSyntaxUID") == uid.DeflatedExplicitVRLittleEndian:
            # The deflated body must be inflated before Pixel Data can be found.
            self._open_dataset(dcmread(f))
            return
        try:
            _, self._opts = _array_common(f, [])
        except AttributeError as exc:
            if "Pixel Data" in str(exc):
                raise NoPixelDataError(f"{self._name}: no Pixel Data element") from exc
            raise DecodeError(f"{self._name}: {exc}") from exc
        except EOFError as exc:
            raise TruncatedError(f"{self._name}: header ends before Pixel Data") from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidHeaderError(f"{self._name}: cannot reach Pixel Data: {exc}") from exc
        if self._opts.get("pixel_vr", "OB") not in _PIXEL_VRS:
            # Explicit VR syntax but implicitly encoded (seen in SC_rgb_jpeg.dcm): only
            # pydicom's full reader copes, so read the whole file.
            f.seek(0)
            self._open_dataset(dcmread(f))
            return
        self.transfer_syntax = str(self._opts["transfer_syntax_uid"])
        self.number_of_frames = int(self._opts.get("number_of_frames") or 1)
        self._src = f
        self._start = f.tell()

    def decode(self, index: int, plugin: str) -> DecodedFrame:
        """Decode frame ``index`` in this process with ``plugin``."""
        try:
            decoder = get_decoder(uid.UID(self.transfer_syntax))
        except NotImplementedError as exc:
            raise UnsupportedTransferSyntaxError(
                f"{self._name}: no decoder for {uid.UID(self.transfer_syntax).name}"
            ) from exc
        if not isinstance(self._src, Dataset):
            self._src.seek(self._start)
        # Native decoders have no plugins; pydicom then rejects any plugin name.
        plugin_arg = "" if decoder.is_native else plugin
        try:
            arr, props = decoder.as_array(
                self._src,
                index=index,
                validate=True,
                raw=False,
                decoding_plugin=plugin_arg,
                **self._opts,
            )
        except DicomError:
            raise
        except Exception as exc:
            raise _classify(exc, self._name, plugin) from exc
        pi = str(
            props.get(
                "photometric_interpretation", self._opts.get("photometric_interpretation", "")
            )
        )
        return DecodedFrame(arr=arr, decoder=plugin, photometric_interpretation=pi)

    def portable(self) -> str | bytes:
        """The source as something picklable for the child: a path or the file bytes."""
        source = self._source
        if isinstance(source, str | os.PathLike):
            return os.fspath(source)
        if isinstance(source, bytes):
            return source
        if isinstance(source, Dataset):
            buf = io.BytesIO()
            source.save_as(buf, enforce_file_format=False)
            return buf.getvalue()
        f = self._src
        assert not isinstance(f, Dataset)
        f.seek(0)
        return f.read()


def _classify(exc: Exception, name: str, plugin: str) -> DicomError:
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ")[:300]
    message = f"{name}: {plugin} failed: {text}"
    lowered = text.lower()
    truncated = (
        "less than expected",
        "too short",
        "end of",
        "truncat",
        "insufficient",
        "cannot reshape",
    )
    if any(s in lowered for s in truncated):
        return TruncatedError(message)
    if isinstance(exc, NotImplementedError) or "no plugin named" in lowered:
        return UnsupportedTransferSyntaxError(message)
    return DecodeError(message)


class _IsolatedDecoder:
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
        env = {**os.environ, **_CHILD_ENV}
        env["PYTHONPATH"] = os.pathsep.join(p or os.getcwd() for p in sys.path)
        code = f"from {__name__} import _child_main; _child_main({to_child_r}, {from_child_w})"
        proc = subprocess.Popen(
            [sys.executable, "-c", code],
            pass_fds=(to_child_r, from_child_w),
            env=env,
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
    ) -> DecodedFrame:
        with self._lock:
            proc, send, recv = self._start()
            try:
                send.send((source, index, plugin, name))
                if not recv.poll(timeout):
                    self._stop_locked()
                    raise DecoderCrashError(
                        f"{name}: {plugin} timed out after {timeout:.0f} s in the isolated decoder"
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
            return DecodedFrame(arr=arr, decoder=decoder, photometric_interpretation=pi)
        _, kind, message = reply
        error_class = {cls.__name__: cls for cls in _ERROR_CLASSES}.get(kind, DecodeError)
        raise error_class(message)


_ERROR_CLASSES: Final = (
    DecodeError,
    InvalidHeaderError,
    NoPixelDataError,
    NotDicomError,
    TruncatedError,
    UnsupportedTransferSyntaxError,
)
_ISOLATED = _IsolatedDecoder()
atexit.register(_ISOLATED.stop)


def _child_main(read_fd: int, write_fd: int) -> None:
    """Child loop: decode requests until the pipe closes. Runs only in the child."""
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
        except Exception as exc:
            send.send(
                ("error", "DecodeError", f"{name}: {plugin} failed: {type(exc).__name__}: {exc}")
            )


def _decode_in_child(source: str | bytes, index: int, plugin: str, name: str) -> DecodedFrame:
    """Decode with ``plugin``; gdcm falls back to its whole-file reader for syntaxes
    pydicom has no gdcm plugin for (native, RLE), which is the call that aborts."""
    with _PixelSource(source, name) as pixels:
        if plugin != "gdcm" or "gdcm" in get_decoder(uid.UID(pixels.transfer_syntax))._available:
            return pixels.decode(index, plugin)
    return _gdcm_read_file(source, index, name)


def _gdcm_read_file(source: str | bytes, index: int, name: str) -> DecodedFrame:
    import tempfile

    import gdcm

    tmp = None
    if isinstance(source, bytes):
        tmp = tempfile.NamedTemporaryFile(suffix=".dcm")  # noqa: SIM115 - closed below
        tmp.write(source)
        tmp.flush()
        source = tmp.name
    try:
        reader = gdcm.ImageReader()
        reader.SetFileName(source)
        if not reader.Read():
            raise DecodeError(f"{name}: gdcm could not read the file")
        image = reader.GetImage()
        buf = image.GetBuffer().encode("utf-8", "surrogateescape")
    finally:
        if tmp is not None:
            tmp.close()
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
    return DecodedFrame(arr=arr.copy(), decoder="gdcm", photometric_interpretation=pi)


def _read_headerless(f: BinaryIO, name: str) -> Dataset:
    """Read a dataset without file meta; give it the transfer syntax pydicom inferred."""
    try:
        ds = dcmread(f, force=True)
    except Exception as exc:
        raise NotDicomError(f"{name}: not a DICOM file ({type(exc).__name__})") from exc
    if not getattr(ds, "file_meta", None) or "TransferSyntaxUID" not in ds.file_meta:
        implicit, little = ds.original_encoding
        if implicit is None or little is None:
            raise NotDicomError(f"{name}: no file meta and no recognisable encoding")
        ts = (
            uid.ImplicitVRLittleEndian
            if implicit
            else uid.ExplicitVRLittleEndian
            if little
            else uid.ExplicitVRBigEndian
        )
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ts
    return ds
