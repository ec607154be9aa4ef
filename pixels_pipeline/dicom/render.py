"""The display pipeline: one frame to an 8-bit image, and a PNG thumbnail.

What: :func:`render_frame` is the pure array transform (stored values to what a viewer
shows, as ``uint8``); :func:`render_thumbnail` reads a file, decodes one frame with
:mod:`pixels_pipeline.dicom.decode` and returns a small PNG plus the settings applied.

The grayscale chain follows PS3.3 C.11: modality LUT or rescale slope/intercept
(``apply_modality_lut``), then the first VOI LUT (``apply_voi_lut``) or the first window
centre/width (``apply_windowing``, PS3.3 C.11.2.1.2), else a robust percentile window
(0.5-99.5 %) for files that carry none; MONOCHROME1 and a Presentation LUT Shape of
INVERSE are shown inverted. Enhanced multi-frame files keep rescale and window in
functional groups; :func:`frame_view` lifts the shared and per-frame values to the top.
Colour: PALETTE COLOR through its LUT (``apply_color_lut``); YBR_FULL/YBR_FULL_422 to RGB
(``convert_color_space``) only if the decoder has not already done it (the decoder
reports the photometric interpretation of what it returned); RGB data wider than 8 bits
is shifted down by ``BitsStored - 8``.

Speed: JPEG 2000 frames are decoded at reduced resolution (the wavelet pyramid's level
closest above the thumbnail size, :mod:`pixels_pipeline.dicom.reduced`). A frame still
much larger than the thumbnail is then subsampled by integer striding,
keeping at least twice the thumbnail size. Every display step is a per-pixel map, so
striding first gives the same pixels as windowing the whole frame then striding; the
only cost is some aliasing, which the final resize (a box reduce by the integer part of
the scale, then bicubic) mostly hides, and the percentile window is estimated from the
subsample. Palette colour and grayscale go through lookup tables; the PNG is written by
:mod:`pixels_pipeline.dicom.png` (one fixed filter, zlib level 1).
"""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO, Final

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.pixels.processing import (
    apply_color_lut,
    apply_modality_lut,
    apply_voi_lut,
    apply_windowing,
    convert_color_space,
)

from pixels_pipeline.dicom.budget import PixelBudget, check_pixel_budget
from pixels_pipeline.dicom.dataset_end import read_file
from pixels_pipeline.dicom.decode import decode_frame
from pixels_pipeline.dicom.errors import (
    DicomError,
    EmptyDatasetError,
    InvalidHeaderError,
    NoPixelDataError,
    NotDicomError,
    ReadError,
    RenderError,
    TruncatedError,
)
from pixels_pipeline.dicom.png import encode_png
from pixels_pipeline.dicom.sniff import HEAD_BYTES, looks_like_dicom

__all__ = [
    "DisplayImage",
    "ImageSource",
    "Thumbnail",
    "display_frame",
    "frame_count",
    "frame_view",
    "palette_rgb",
    "read_image_header",
    "read_image_header_at",
    "render_frame",
    "render_thumbnail",
    "source_label",
    "thumbnail_size",
]

ImageSource = str | os.PathLike[str] | bytes | BinaryIO
"""A DICOM file: a path, its bytes, or a binary file object (read from the start)."""

PERCENTILES: Final = (0.5, 99.5)
_PERCENTILE_SAMPLES: Final = 512 * 512
_REDUCING_GAP: Final = 1.0
_LUT_MIN_PIXELS: Final = 64 * 64  # smaller frames are computed pixel by pixel
_YBR_TO_RGB: Final = frozenset({"YBR_FULL", "YBR_FULL_422", "YBR_ICT"})
_PRESENTATION_LUT_SHAPE: Final = 0x20500020
_FUNCTIONAL_GROUPS: Final = ("PixelValueTransformationSequence", "FrameVOILUTSequence")


@dataclass(frozen=True)
class Thumbnail:
    """A PNG thumbnail of one frame and what was done to make it.

    ``width``/``height`` are the PNG's, ``rows``/``columns`` the frame's; ``settings``
    is compact JSON of the display choices (modality LUT, VOI, inversion, colour).
    """

    png: bytes
    width: int
    height: int
    rows: int
    columns: int
    frame_index: int
    number_of_frames: int
    decoder: str
    settings: str
    sop_instance_uid: str | None = None
    modality: str | None = None


@dataclass(frozen=True, eq=False)
class DisplayImage:
    """An 8-bit display image (``(rows, cols)`` or ``(rows, cols, 3)``) and its settings."""

    image: np.ndarray
    settings: Mapping[str, object]


def read_image_header(source: ImageSource, *, label: str | None = None) -> Dataset:
    """Read the header (everything before Pixel Data) and check it describes an image.

    Raises :class:`NotDicomError`, :class:`TruncatedError`, :class:`ReadError`,
    :class:`InvalidHeaderError`, :class:`EmptyDatasetError` or :class:`NoPixelDataError`.
    """
    name = label or source_label(source)
    try:
        if not looks_like_dicom(_head(source)):
            raise NotDicomError(f"{name}: no DICM prefix and no plausible headerless start")
        if isinstance(source, bytes):
            ds = read_file(io.BytesIO(source), stop_before_pixels=True)
        elif isinstance(source, str | os.PathLike):
            with open(source, "rb") as fh:
                ds = read_file(fh, stop_before_pixels=True)
        else:
            source.seek(0)
            ds = read_file(source, stop_before_pixels=True)
    except NotDicomError:
        raise
    except InvalidDicomError as exc:
        raise NotDicomError(f"{name}: not a DICOM file (no preamble or file meta)") from exc
    except EOFError as exc:
        raise TruncatedError(f"{name}: header ends early") from exc
    except OSError as exc:
        raise ReadError(f"{name}: {type(exc).__name__}: {exc.strerror or exc}") from exc
    except Exception as exc:
        raise InvalidHeaderError(f"{name}: unreadable header: {type(exc).__name__}") from exc
    if len(ds) == 0:
        raise EmptyDatasetError(f"{name}: the dataset has no elements")
    missing = [
        k
        for k in ("Rows", "Columns", "BitsAllocated", "PhotometricInterpretation")
        if not ds.get(k)
    ]
    if missing:
        raise NoPixelDataError(f"{name}: no image pixel module (missing {', '.join(missing)})")
    return ds


def read_image_header_at(source: ImageSource, *, label: str | None = None) -> tuple[Dataset, int]:
    """:func:`read_image_header` plus the byte offset of the Pixel Data element, which
    :func:`~pixels_pipeline.dicom.decode.decode_frame` takes to skip a second parse."""
    if isinstance(source, str | os.PathLike):
        try:
            with open(source, "rb") as fh:
                ds = read_image_header(fh, label=label or source_label(source))
                return ds, fh.tell()
        except OSError as exc:
            raise ReadError(f"{label or source}: {type(exc).__name__}: {exc}") from exc
    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    ds = read_image_header(stream, label=label or source_label(source))
    return ds, stream.tell()


def _head(source: ImageSource) -> bytes:
    """The first bytes of ``source``, to sniff it before parsing with ``force=True``."""
    if isinstance(source, bytes):
        return source[:HEAD_BYTES]
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as fh:
            return fh.read(HEAD_BYTES)
    source.seek(0)
    head = source.read(HEAD_BYTES)
    source.seek(0)
    return head


def frame_view(ds: Dataset, frame_index: int = 0) -> Dataset:
    """A small dataset with the display attributes that apply to one frame.

    Copies the Image Pixel / LUT group (0028) and Presentation LUT Shape, then lifts
    rescale and VOI values from the shared, then the per-frame functional groups of
    enhanced multi-frame files, so pydicom's LUT functions see them. ``ds`` is not changed.
    """
    view = Dataset()
    # LUT data (OW) is decoded with the file's byte order, which pydicom reads from here.
    view.file_meta = getattr(ds, "file_meta", FileMetaDataset())
    implicit_vr, little_endian = ds.original_encoding
    view.set_original_encoding(implicit_vr, little_endian, ds.original_character_set)
    # Select by tag before touching values: iterating ``ds`` converts every raw element
    # of the header: 7 % of a thumbnail's CPU time on the benchmark drop.
    for tag in ds.keys():  # noqa: SIM118 - iterating a Dataset converts its elements
        if tag >> 16 == 0x0028 or tag == _PRESENTATION_LUT_SHAPE:
            view[tag] = ds[tag]
    groups = [ds.get("SharedFunctionalGroupsSequence")]
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame and frame_index < len(per_frame):
        groups.append([per_frame[frame_index]])
    for seq in groups:
        if not seq:
            continue
        for keyword in _FUNCTIONAL_GROUPS:
            inner = seq[0].get(keyword)
            if inner:
                for elem in inner[0]:
                    view[elem.tag] = elem
    return view


def render_frame(
    ds: Dataset,
    arr: np.ndarray,
    *,
    photometric_interpretation: str | None = None,
    frame_index: int = 0,
    view: Dataset | None = None,
) -> np.ndarray:
    """Return one decoded frame as displayed: ``uint8``, grayscale ``(r, c)`` or RGB ``(r, c, 3)``.

    ``photometric_interpretation`` is that of ``arr`` as decoded (it may already be RGB
    for YBR data); it defaults to the dataset's. ``view``: ``frame_view(ds, frame_index)``
    if the caller has it. See :func:`display_frame`.
    """
    return display_frame(
        ds,
        arr,
        photometric_interpretation=photometric_interpretation,
        frame_index=frame_index,
        view=view,
    ).image


def display_frame(
    ds: Dataset,
    arr: np.ndarray,
    *,
    photometric_interpretation: str | None = None,
    frame_index: int = 0,
    view: Dataset | None = None,
) -> DisplayImage:
    """Like :func:`render_frame`, also returning the settings that were applied."""
    stored_pi = str(ds.get("PhotometricInterpretation", "")).strip().upper()
    pi = (photometric_interpretation or stored_pi).strip().upper()
    view = frame_view(ds, frame_index) if view is None else view
    try:
        if pi == "PALETTE COLOR":
            return _render_palette(arr, view)
        if arr.ndim == 3:
            return _render_color(arr, view, pi, stored_pi)
        if pi in ("MONOCHROME1", "MONOCHROME2"):
            return _render_grayscale(arr, view, pi)
    except DicomError:
        raise
    except Exception as exc:
        raise RenderError(f"cannot display {pi} frame: {type(exc).__name__}: {exc}") from exc
    raise RenderError(f"cannot display photometric interpretation {pi!r} with shape {arr.shape}")


def thumbnail_size(rows: int, columns: int, max_size: int) -> tuple[int, int]:
    """``(width, height)`` with the longest side ``max_size``, aspect kept, never upscaled."""
    scale = min(1.0, max_size / max(rows, columns))
    return max(1, round(columns * scale)), max(1, round(rows * scale))


def render_thumbnail(
    source: ImageSource,
    *,
    max_size: int = 256,
    frame_index: int | None = None,
    budget: PixelBudget | None = None,
) -> Thumbnail:
    """Render one frame (default: the middle one) of ``source`` as a PNG thumbnail.

    A file declaring more pixels than ``budget`` is an ``image_too_large`` error, raised
    before anything is decoded.

    Raises a :class:`~pixels_pipeline.dicom.errors.DicomError` subclass for any file that
    cannot be shown: not DICOM, no Pixel Data, no decoder, truncated data, display failure.
    """
    if max_size < 1:
        raise ValueError("max_size must be at least 1")
    name = source_label(source)
    ds, offset = read_image_header_at(source, label=name)
    check_pixel_budget(ds, budget or PixelBudget(), name=name)
    rows, columns = int(ds.Rows), int(ds.Columns)
    number_of_frames = frame_count(ds)
    index = number_of_frames // 2 if frame_index is None else frame_index
    if not 0 <= index < number_of_frames:
        raise RenderError(f"{name}: frame {index} out of range ({number_of_frames} frames)")
    # The decoder re-opens a path (the offset holds in any opening) instead of
    # parsing the header again.
    frame = decode_frame(source, index, label=name, header=(ds, offset), min_size=max_size)
    arr = frame.arr
    scale = 1 << frame.reduction
    if arr.shape[:2] != (-(-rows // scale), -(-columns // scale)):
        raise RenderError(f"{name}: decoded shape {arr.shape} does not match {rows}x{columns}")
    step = max(1, max(arr.shape[:2]) // (2 * max_size))
    display = display_frame(
        ds,
        arr[::step, ::step],
        photometric_interpretation=frame.photometric_interpretation,
        frame_index=index,
    )
    image = Image.fromarray(display.image)
    size = thumbnail_size(rows, columns, max_size)
    if image.size != size:
        # Box-average by the integer part of the scale first (``Image.reduce``), then
        # bicubic for the rest: 512 -> 256 px in 0.2 ms against 2.5 ms for Lanczos
        # alone; 484 -> 256 px in 1.6 ms against 2.6 ms for Lanczos.
        image = image.resize(size, Image.Resampling.BICUBIC, reducing_gap=_REDUCING_GAP)
    png = encode_png(np.asarray(image))
    settings = {**display.settings, "subsample": step}
    if frame.reduction:
        settings["reduce"] = frame.reduction
    return Thumbnail(
        png=png,
        width=size[0],
        height=size[1],
        rows=rows,
        columns=columns,
        frame_index=index,
        number_of_frames=number_of_frames,
        decoder=frame.decoder,
        settings=json.dumps(settings, separators=(",", ":"), sort_keys=True),
        sop_instance_uid=_uid(ds),
        modality=str(ds.get("Modality") or "") or None,
    )


def _uid(ds: Dataset) -> str | None:
    meta = getattr(ds, "file_meta", None)
    value = ds.get("SOPInstanceUID") or (meta.get("MediaStorageSOPInstanceUID") if meta else None)
    return str(value) if value else None


def source_label(source: ImageSource) -> str:
    """The name used in error messages: the path, a file object's name, or ``<bytes>``."""
    if isinstance(source, str | os.PathLike):
        return os.fspath(source)
    name = getattr(source, "name", None)
    return name if isinstance(name, str) else "<bytes>"


def frame_count(ds: Dataset) -> int:
    """Number of Frames, 1 when absent or unreadable."""
    try:
        return max(1, int(ds.get("NumberOfFrames") or 1))
    except (TypeError, ValueError):
        return 1


def _render_grayscale(
    arr: np.ndarray, view: Dataset, pi: str, *, use_lut: bool = True
) -> DisplayImage:
    """Grayscale display. Every step maps a stored value to a display value on its own,
    so integer frames are rendered through a lookup table over their value range
    (``use_lut``): the chain runs once per distinct value instead of once per pixel, with
    the same output (a 512x512 CT: a few thousand values for 262,144 pixels)."""
    settings: dict[str, object] = {"color": pi}
    if "ModalityLUTSequence" in view:
        settings["modality_lut"] = "lut"
    elif view.get("RescaleSlope") is not None or view.get("RescaleIntercept") is not None:
        view.RescaleSlope = float(view.get("RescaleSlope", 1.0) or 1.0)
        view.RescaleIntercept = float(view.get("RescaleIntercept", 0.0) or 0.0)
        settings["modality_lut"] = "rescale"
    else:
        settings["modality_lut"] = "none"
    value_range = _lut_range(arr) if use_lut else None
    low, domain = None, arr
    if value_range is not None:
        low = value_range[0]
        domain = np.arange(low, value_range[1] + 1).astype(arr.dtype)
    values = np.asarray(apply_modality_lut(domain, view))
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        values = np.nan_to_num(values)
    step = _sample_step(arr)

    def sample_values() -> np.ndarray:  # only the percentile window needs them
        if low is None:
            return values[::step, ::step]
        return np.take(values, _lut_index(arr[::step, ::step], low))

    out = _apply_voi(values, sample_values, view, settings)
    inverted = (pi == "MONOCHROME1") != (
        str(view.get("PresentationLUTShape", "")).upper() == "INVERSE"
    )
    settings["inverted"] = inverted
    image = _to_uint8(out)
    if inverted:
        np.subtract(255, image, out=image)
    if low is not None:
        image = np.take(image, _lut_index(arr, low))  # faster than image[index]
    return DisplayImage(image=image, settings=settings)


def _lut_range(arr: np.ndarray) -> tuple[int, int] | None:
    """The smallest and largest stored value, if a lookup table over that range is cheaper
    than computing every pixel (integer data, range at most a quarter of the pixels)."""
    if arr.dtype.kind not in "iu" or arr.ndim != 2 or arr.size < _LUT_MIN_PIXELS:
        return None
    low, high = int(arr.min()), int(arr.max())
    return (low, high) if high - low < arr.size // 4 else None


def _lut_index(arr: np.ndarray, low: int) -> np.ndarray:
    """Positions of ``arr``'s values in a table starting at ``low``."""
    if low == 0 and arr.dtype.kind == "u":
        return arr
    if arr.dtype.itemsize <= 2 and arr.dtype.isnative:
        # Unsigned arithmetic modulo 2**bits: one pass, no int32 copy (the table is
        # shorter than 2**bits, so every offset comes out right).
        unsigned = np.dtype(f"u{arr.dtype.itemsize}")
        offsets: np.ndarray = arr.view(unsigned) - np.array(low, dtype=np.int64).astype(unsigned)
        return offsets
    return arr.astype(np.int32) - low


def _apply_voi(
    values: np.ndarray,
    sample_of: Callable[[], np.ndarray],
    view: Dataset,
    settings: dict[str, object],
) -> np.ndarray:
    """Map modality values to [0, 255] (float): VOI LUT, else window, else percentiles
    of ``sample_of()`` (modality values of the frame, or of a subsample of it)."""
    voi_seq = view.get("VOILUTSequence")
    if voi_seq:
        bits = int(voi_seq[0].LUTDescriptor[2])
        settings["voi"] = "voi_lut"
        out = np.asarray(apply_voi_lut(values, view, index=0), dtype=np.float32)
        return out * np.float32(255 / (2**bits - 1))
    window = _first_window(view)
    if window is not None:
        center, width, function = window
        settings.update(voi="window", center=center, width=width, function=function)
        return _window(values, center, width, function)
    sample = sample_of()
    low, high = (float(v) for v in np.percentile(sample, PERCENTILES))
    if high <= low:
        low, high = float(sample.min()), float(sample.max())
    if high <= low:
        settings.update(voi="none")
        return np.zeros(values.shape, dtype=np.float32)
    settings.update(
        voi="percentile", center=(low + high) / 2, width=high - low, function="LINEAR_EXACT"
    )
    return _window(values, (low + high) / 2, high - low, "LINEAR_EXACT")


def _first_window(view: Dataset) -> tuple[float, float, str] | None:
    """The first window centre/width, if present and usable for its VOI LUT function."""
    center, width = view.get("WindowCenter"), view.get("WindowWidth")
    if center is None or width is None or center == "" or width == "":
        return None
    try:
        c, w = float(_first(center)), float(_first(width))
    except (TypeError, ValueError, IndexError):
        return None
    function = str(view.get("VOILUTFunction", "LINEAR") or "LINEAR").upper()
    if function not in ("LINEAR", "LINEAR_EXACT", "SIGMOID"):
        function = "LINEAR"
    if not (math.isfinite(c) and math.isfinite(w)) or w <= 0 or (function == "LINEAR" and w < 1):
        return None
    return c, w, function


def _first(value: Any) -> Any:
    """The first value of a multi-valued element (the default window, PS3.3 C.11.2.1.2)."""
    return value[0] if isinstance(value, MultiValue | list | tuple) else value


def _window(values: np.ndarray, center: float, width: float, function: str) -> np.ndarray:
    """``apply_windowing`` on a view whose output range is exactly [0, 255].

    An unsigned 8-bit, no-rescale view makes pydicom's y_min/y_max 0 and 255, so the
    output needs no rescaling; ``values`` are already modality-transformed.
    """
    view = Dataset()
    view.PhotometricInterpretation = "MONOCHROME2"
    view.BitsStored = 8
    view.PixelRepresentation = 0
    view.WindowCenter = center
    view.WindowWidth = width
    view.VOILUTFunction = function
    return np.asarray(apply_windowing(values, view, index=0))


def _sample_step(values: np.ndarray) -> int:
    return max(1, math.ceil(math.sqrt(values.shape[0] * values.shape[1] / _PERCENTILE_SAMPLES)))


def _to_uint8(out: np.ndarray) -> np.ndarray:
    out = np.clip(out, 0, 255)
    image: np.ndarray = np.rint(out, out=out).astype(np.uint8)
    return image


def palette_rgb(arr: np.ndarray, view: Dataset) -> np.ndarray:
    """``apply_color_lut(arr, view)``, through a table over ``arr``'s value range when
    that is cheaper (the same output: the LUT maps each index on its own). An 800x600
    ultrasound frame with 256 palette entries: 2.5 ms against 7.5 ms."""
    value_range = _lut_range(arr)
    if value_range is None:
        return np.asarray(apply_color_lut(arr, view))
    low, high = value_range
    table = np.asarray(apply_color_lut(np.arange(low, high + 1).astype(arr.dtype), view))
    return np.take(table, _lut_index(arr, low), axis=0)  # 3.6x faster than table[index]


def _render_palette(arr: np.ndarray, view: Dataset) -> DisplayImage:
    """PALETTE COLOR to 8-bit RGB. Through a table over ``arr``'s value range, made 8-bit
    before it is applied: the same pixels as mapping then shifting, without a 16-bit RGB
    frame; 8-bit indices go through Pillow's palette conversion (an 800x600 ultrasound
    frame: 1.3 against 6.3 ms)."""
    value_range = _lut_range(arr)
    if value_range is None:
        rgb = _palette_to_uint8(palette_rgb(arr, view), arr, view)
    else:
        low, high = value_range
        entries = np.arange(low, high + 1).astype(arr.dtype)
        table = _palette_to_uint8(np.asarray(apply_color_lut(entries, view)), arr, view)
        index = _lut_index(arr, low)
        if index.dtype == np.uint8:
            rgb = _palette_image(index, table)
        else:
            rgb = np.take(table, index, axis=0)
    return DisplayImage(
        image=np.ascontiguousarray(rgb, dtype=np.uint8), settings={"color": "palette"}
    )


def _palette_to_uint8(rgb: np.ndarray, arr: np.ndarray, view: Dataset) -> np.ndarray:
    """Palette output as ``uint8``: 16-bit entries are scaled by the LUT's own range (some
    writers put 8-bit values in 16-bit entries; scaling those by 2**16 would show black)."""
    if rgb.dtype.itemsize == 1:
        return rgb.astype(np.uint8, copy=False)
    descriptor = view.RedPaletteColorLookupTableDescriptor
    first = int(descriptor[1])
    entries = np.arange(first, first + (int(descriptor[0]) or 65536), dtype=np.int64)
    lut_max = int(np.asarray(apply_color_lut(entries.astype(arr.dtype, copy=False), view)).max())
    shift = 8 if lut_max > 255 else 0
    out: np.ndarray = (rgb >> shift).astype(np.uint8)
    return out


def _palette_image(index: np.ndarray, table: np.ndarray) -> np.ndarray:
    """``table[index]`` for ``uint8`` indices into an ``(n, 3)`` ``uint8`` table, by
    Pillow's P to RGB conversion (C, one pass): indices beyond the table cannot occur,
    as the table covers the frame's value range."""
    height, width = index.shape
    image = Image.frombuffer("P", (width, height), np.ascontiguousarray(index), "raw", "P", 0, 1)
    image.putpalette(np.ascontiguousarray(table[:256]).tobytes(), "RGB")
    return np.asarray(image.convert("RGB"))


def _render_color(arr: np.ndarray, view: Dataset, pi: str, stored_pi: str) -> DisplayImage:
    settings: dict[str, object] = {"color": "RGB"}
    if pi != stored_pi:
        settings["color"] = f"{stored_pi}->{pi} (decoder)"
    if pi in _YBR_TO_RGB:
        arr = convert_color_space(arr, "YBR_FULL", "RGB")
        settings["color"] = f"{stored_pi}->RGB"
    elif pi != "RGB":
        raise RenderError(f"cannot display {pi} colour data (decoder did not convert it)")
    if arr.dtype.itemsize > 1:
        bits = int(view.get("BitsStored") or arr.dtype.itemsize * 8)
        arr = np.clip(arr, 0, None) >> max(0, bits - 8)
        settings["shift"] = max(0, bits - 8)
    if arr.shape[-1] != 3:
        raise RenderError(f"cannot display {arr.shape[-1]} samples per pixel")
    return DisplayImage(image=np.ascontiguousarray(arr, dtype=np.uint8), settings=settings)
