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
* Thumbnails need no full-size JPEG 2000 decode: with ``min_size`` a frame is decoded
  at the coarsest wavelet level that still covers the thumbnail (3.5x less CPU for a
  512x512 CT, :mod:`pixels_pipeline.dicom.reduced`).
* gdcm can abort the whole process, so it never runs in this process: it runs in the
  child interpreter of :mod:`pixels_pipeline.dicom.isolated`, and a crash there becomes
  a :class:`DecoderCrashError` for this frame only.
* Thread limits: the gdcm child sets ``OMP_NUM_THREADS``, ``OPENJPEG_NUM_THREADS`` and
  ``GDCM_NUM_THREADS`` to 1 before importing gdcm and pins itself to one CPU with
  ``os.sched_setaffinity``, so gdcm's extra decoder threads share one core instead of
  competing with the Spark executor's other task slots. The in-process decoders (Pillow,
  pylibjpeg, pydicom's numpy code) decode single-threaded.
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, Final, cast

import numpy as np
from PIL import Image
from pydicom import uid
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import get_frame
from pydicom.errors import InvalidDicomError
from pydicom.filereader import _read_file_meta_info, read_preamble
from pydicom.pixels.decoders.base import get_decoder
from pydicom.pixels.utils import _PIXEL_KEYWORDS, as_pixel_options

from pixels_pipeline.dicom.dataset_end import read_file
from pixels_pipeline.dicom.errors import (
    TRANSIENT_ERRORS,
    DecodeError,
    DicomError,
    InvalidHeaderError,
    NoPixelDataError,
    NotDicomError,
    TruncatedError,
    UnsupportedTransferSyntaxError,
)
from pixels_pipeline.dicom.isolated import ISOLATED, gdcm_read_file
from pixels_pipeline.dicom.reduced import codestream_info, decode_j2k_reduced, reduction_for

__all__ = [
    "DECODER_ORDER",
    "ISOLATED_PLUGINS",
    "DecodedFrame",
    "FrameSource",
    "ParsedHeader",
    "decode_frame",
    "decoder_order",
    "shutdown_isolated_decoder",
]

FrameSource = Dataset | str | os.PathLike[str] | bytes | BinaryIO
ParsedHeader = tuple[Dataset, int]
"""A dataset read with ``stop_before_pixels`` and the file offset where reading stopped."""
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
_YBR_FULL: Final = frozenset({"YBR_FULL", "YBR_FULL_422"})
# Syntaxes whose frames can be decoded at reduced resolution (dicom.reduced).
_REDUCIBLE: Final = frozenset({uid.JPEG2000Lossless, uid.JPEG2000})


@dataclass(frozen=True, eq=False)
class DecodedFrame:
    """One decoded frame.

    ``photometric_interpretation`` describes ``arr`` as returned, which can differ from
    the dataset's value: YBR_FULL/YBR_FULL_422 come back as RGB (8-bit data converted
    by Pillow here, wider data by pydicom's ``as_rgb``, or the JPEG decoder itself
    converted), and JPEG 2000 YBR_RCT/YBR_ICT come
    back as RGB when the decoder applied the inverse component transform.
    ``reduction``: the frame was decoded at ``1 / 2**reduction`` of its size (see
    ``min_size`` of :func:`decode_frame`).
    """

    arr: np.ndarray
    decoder: str
    photometric_interpretation: str
    reduction: int = 0


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
    header: ParsedHeader | None = None,
    min_size: int | None = None,
) -> DecodedFrame:
    """Decode frame ``index`` (0-based) of ``source`` without decoding other frames.

    ``min_size`` (for thumbnails): the frame may come back smaller by a power of two,
    its longest side still at least ``min_size``, where the codec decodes at reduced
    resolution for less work (JPEG 2000, :mod:`pixels_pipeline.dicom.reduced`); see
    :attr:`DecodedFrame.reduction`. Without it, or when that is not possible, the frame
    comes back at full size.

    ``header`` is the caller's parse of the same open file (dataset read with
    ``stop_before_pixels`` and the offset where that left the file): given it, the header
    is not parsed a second time.

    ``plugins`` overrides :data:`DECODER_ORDER` (e.g. ``("gdcm",)`` to force gdcm);
    ``timeout`` bounds one isolated decode in seconds; ``label`` names the file in error
    messages (defaults to the path, or ``"<bytes>"``).
    Raises :class:`NoPixelDataError`, :class:`UnsupportedTransferSyntaxError`,
    :class:`TruncatedError`, :class:`DecoderCrashError` or :class:`DecodeError`.
    """
    name = label or _label(source)
    with _PixelSource(source, name, header) as pixels:
        if not 0 <= index < pixels.number_of_frames:
            raise DecodeError(
                f"{name}: frame index {index} out of range "
                f"(the file has {pixels.number_of_frames} frames)"
            )
        if min_size is not None and plugins is None:
            reduced = pixels.decode_reduced(index, min_size)
            if reduced is not None:
                return reduced
        order = tuple(plugins) if plugins is not None else decoder_order(pixels.transfer_syntax)
        failures: list[DicomError] = []
        for plugin in order:
            try:
                if plugin in ISOLATED_PLUGINS:
                    arr, decoder, pi = ISOLATED.decode(
                        pixels.portable(), index, plugin, name, timeout
                    )
                    return DecodedFrame(arr=arr, decoder=decoder, photometric_interpretation=pi)
                return pixels.decode(index, plugin)
            except DicomError as exc:
                failures.append(exc)
    raise _combine(failures, name, pixels.transfer_syntax)


def shutdown_isolated_decoder() -> None:
    """Stop the isolated decoder child (it is started again on demand)."""
    ISOLATED.stop()


def _label(source: FrameSource) -> str:
    if isinstance(source, str | os.PathLike):
        return os.fspath(source)
    name = getattr(source, "name", None)
    return name if isinstance(name, str) else "<bytes>"


def _combine(failures: list[DicomError], name: str, ts: str) -> DicomError:
    """One error for a frame no plugin decoded: the shared type, else a DecodeError."""
    kinds = {type(exc) for exc in failures}
    # A crash or timeout is of the moment: the frame stays due for a retry (errors.py).
    transient = [exc for exc in failures if exc.error_type in TRANSIENT_ERRORS]
    if transient and len(kinds) > 1:
        details = "; ".join(exc.message for exc in failures)
        return type(transient[0])(f"{name}: no decoder could decode {uid.UID(ts).name}: {details}")
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

    def __init__(self, source: FrameSource, name: str, header: ParsedHeader | None = None) -> None:
        self._source = source
        self._name = name
        self._header = header
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

    def _open_parsed(self, f: BinaryIO, header: ParsedHeader) -> bool:
        """Use the caller's parse: read only the Pixel Data element header at its offset.

        The tail of ``_array_common``; False (parse again) for anything unusual: deflated
        or headerless files, or Pixel Data encoded against the transfer syntax's VR rule.
        """
        ds, offset = header
        meta = getattr(ds, "file_meta", None)
        ts = meta.get("TransferSyntaxUID") if meta is not None else None
        if not ts or ts == uid.DeflatedExplicitVRLittleEndian:
            return False
        tsyntax = uid.UID(ts)
        f.seek(offset)
        data = f.read(8)
        if len(data) < 8:
            return False
        try:
            opts = as_pixel_options(ds)
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidHeaderError(f"{self._name}: cannot reach Pixel Data: {exc}") from exc
        opts["transfer_syntax_uid"] = tsyntax
        endian = "><"[tsyntax.is_little_endian]
        if tsyntax.is_implicit_VR:
            group, elem, _ = struct.unpack(f"{endian}HHL", data)
        else:
            group, elem, vr, _ = struct.unpack(f"{endian}HH2sH", data)
            opts["pixel_vr"] = vr.decode("ascii", "replace")
            if opts["pixel_vr"] not in _PIXEL_VRS:
                return False
            f.read(4)
        keyword = _PIXEL_KEYWORDS.get((group, elem))
        if keyword is None:
            return False
        opts["pixel_keyword"] = keyword
        self._opts = opts
        self.transfer_syntax = str(tsyntax)
        self.number_of_frames = int(opts.get("number_of_frames") or 1)
        self._src = f
        self._start = f.tell()
        return True

    def _open_file(self, f: BinaryIO) -> None:
        from pydicom.pixels.utils import _array_common

        if self._header is not None and self._open_parsed(f, self._header):
            return

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
            self._open_dataset(read_file(f, stop_before_pixels=False))
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
            self._open_dataset(read_file(f, stop_before_pixels=False))
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
        # 8-bit YBR_FULL(_422) is converted to RGB by Pillow (C) instead of pydicom (numpy
        # floats): 0.6 against 1.4 ms for a 320x240 ultrasound frame, values within 1.
        ybr8 = (
            str(self._opts.get("photometric_interpretation", "")) in _YBR_FULL
            and self._opts.get("bits_allocated") == 8
        )
        try:
            arr, props = decoder.as_array(
                self._src,
                index=index,
                validate=True,
                raw=False,
                decoding_plugin=plugin_arg,
                **({**self._opts, "as_rgb": False} if ybr8 else self._opts),
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
        if ybr8 and pi in _YBR_FULL and arr.dtype == np.uint8 and arr.shape[-1:] == (3,):
            arr, pi = _ybr_to_rgb(arr), "RGB"
        return DecodedFrame(arr=arr, decoder=plugin, photometric_interpretation=pi)

    def decode_reduced(self, index: int, min_size: int) -> DecodedFrame | None:
        """Frame ``index`` decoded at the smallest power-of-two reduction keeping
        ``min_size``, or ``None`` (decode in full) when the syntax, the codestream or the
        size does not allow it. A frame that fails here is decoded in full, where a
        corrupt one gets its typed error from the regular decoders."""
        opts = self._opts
        if self.transfer_syntax not in _REDUCIBLE:
            return None
        try:
            if isinstance(self._src, Dataset):
                data = get_frame(self._src.PixelData, index, number_of_frames=self.number_of_frames)
            else:
                self._src.seek(self._start)
                data = get_frame(
                    self._src,
                    index,
                    number_of_frames=self.number_of_frames,
                    extended_offsets=opts.get("extended_offsets"),
                )
            info = codestream_info(data)
            if info is None or info.signed != (opts.get("pixel_representation") == 1):
                return None  # sign mismatch: pydicom's full decoder corrects it
            reduce = reduction_for(opts["rows"], opts["columns"], min_size, info.levels)
            arr = decode_j2k_reduced(data, reduce) if reduce else None
        except Exception:
            return None
        if arr is None:
            return None
        stored_pi = str(opts.get("photometric_interpretation", ""))
        pi = "RGB" if arr.ndim == 3 and info.mct else stored_pi
        return DecodedFrame(
            arr=arr, decoder="pillow", photometric_interpretation=pi, reduction=reduce
        )

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


def _ybr_to_rgb(arr: np.ndarray) -> np.ndarray:
    """8-bit YBR_FULL (full-range YCbCr, as JFIF) to RGB with Pillow."""
    height, width = arr.shape[:2]
    data = np.ascontiguousarray(arr)
    image = Image.frombuffer("YCbCr", (width, height), data, "raw", "YCbCr", 0, 1)
    return np.array(image.convert("RGB"))  # writeable, like the decoders' output


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


def _decode_in_child(source: str | bytes, index: int, plugin: str, name: str) -> DecodedFrame:
    """Decode with ``plugin``; gdcm falls back to its whole-file reader for syntaxes
    pydicom has no gdcm plugin for (native, RLE), which is the call that aborts."""
    with _PixelSource(source, name) as pixels:
        if plugin != "gdcm" or "gdcm" in get_decoder(uid.UID(pixels.transfer_syntax))._available:
            return pixels.decode(index, plugin)
    arr, decoder, pi = gdcm_read_file(source, index, name)
    return DecodedFrame(arr=arr, decoder=decoder, photometric_interpretation=pi)


def _read_headerless(f: BinaryIO, name: str) -> Dataset:
    """Read a dataset without file meta; give it the transfer syntax pydicom inferred."""
    try:
        ds = read_file(f, stop_before_pixels=False)
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
