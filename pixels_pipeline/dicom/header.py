"""Read a DICOM header (never the pixels) into the DICOM JSON model and typed fields.

The JSON follows PS3.18 F.2 (hex-tag keys), includes the file meta group 0002 and
replaces Pixel Data and other large binary values by a ``BulkDataURI`` reference of the
form ``<file uri>?offset=<byte offset>&length=<bytes>`` (or ``?tag=<tag>`` where the
offset is unknown), so a row never inlines megabytes of base64.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from datetime import date
from typing import IO, Any, BinaryIO, cast

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileDataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import DeflatedExplicitVRLittleEndian

from pixels_pipeline.dicom.dataset_end import read_elements, read_file
from pixels_pipeline.dicom.errors import (
    EmptyDatasetError,
    InvalidHeaderError,
    NotDicomError,
    TruncatedError,
)
from pixels_pipeline.dicom.json_text import dumps
from pixels_pipeline.dicom.sniff import VRS

BULK_DATA_THRESHOLD = 1024  # bytes; larger binary values become BulkDataURI references
_BULK_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})
_PIXEL_TAGS = {0x7FE00008: "OF", 0x7FE00009: "OD", 0x7FE00010: "OW"}
_LONG_VRS = frozenset(
    {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "UC", "UN", "UR", "UT", "SV", "UV"}
)
_UNDEFINED = 0xFFFFFFFF


@dataclass(frozen=True)
class Header:
    """One instance's header: the DICOM JSON plus the columns users filter on."""

    meta: str  # DICOM JSON model, keys sorted
    sop_instance_uid: str | None
    sop_class_uid: str | None
    study_instance_uid: str | None
    series_instance_uid: str | None
    patient_id: str | None
    modality: str | None
    study_date: date | None
    series_number: int | None
    instance_number: int | None
    rows: int | None
    columns: int | None
    number_of_frames: int | None
    bits_allocated: int | None
    photometric_interpretation: str | None
    transfer_syntax_uid: str | None
    manufacturer: str | None
    body_part_examined: str | None
    truncated: bool  # the header or the declared Pixel Data runs past the end of the file


def parse_header(fp: IO[bytes], *, name: str) -> FileDataset:
    """Parse a header with ``stop_before_pixels``; raise a typed error on failure."""
    try:
        ds = read_file(cast(BinaryIO, fp), stop_before_pixels=True)
    except InvalidDicomError as exc:
        raise NotDicomError(f"{name}: not a DICOM file ({exc})") from exc
    except (EOFError, struct.error) as exc:
        raise TruncatedError(f"{name}: header ends early ({exc})") from exc
    except Exception as exc:
        raise InvalidHeaderError(
            f"{name}: cannot parse header ({type(exc).__name__}: {exc})"
        ) from exc
    if len(ds) == 0:
        raise EmptyDatasetError(f"{name}: no data elements after the file meta information")
    return ds


def read_header(fp: IO[bytes], *, uri: str, file_size: int | None = None) -> Header:
    """Read one file's header from an open binary file positioned at its start.

    Tries :func:`~pixels_pipeline.dicom.fast_header.read_header_fast` first (same result,
    several times cheaper) and runs :func:`read_header_reference` on whatever it declines.
    """
    # Imported here: fast_header builds on this module's Header and helpers.
    from pixels_pipeline.dicom.fast_header import read_header_fast

    header = read_header_fast(fp, uri=uri, file_size=file_size)
    if header is not None:
        return header
    return read_header_reference(fp, uri=uri, file_size=file_size)


def read_header_reference(fp: IO[bytes], *, uri: str, file_size: int | None = None) -> Header:
    """:func:`read_header` through pydicom's ``dcmread`` and ``to_json_dict``: the
    reference the fast path is tested against, and its fallback."""
    ds = parse_header(fp, name=uri)
    if _transfer_syntax(ds) == DeflatedExplicitVRLittleEndian:
        return _read_deflated(fp, uri=uri)
    size = file_size if file_size is not None else _size_of(fp)
    header_end = _declared_end(ds)
    pixel_ref = _pixel_data_reference(fp, ds, uri=uri, file_size=size)
    trailing: Dataset | None = None
    if pixel_ref is not None and not pixel_ref[2]:
        trailing = _read_trailing(fp, ds, pixel_ref[3], int(pixel_ref[0], 16))
    try:
        meta = dataset_to_json(ds, uri=uri)
        if trailing is not None:
            meta.update(_to_json(trailing, uri=uri))
    except Exception as exc:
        raise InvalidHeaderError(
            f"{uri}: header values cannot be converted ({type(exc).__name__}: {exc})"
        ) from exc
    # A header cut inside an element value (declared end past EOF) or inside an element
    # header (a few unparsed bytes left, no Pixel Data reached) is a truncated file.
    truncated = size is not None and (
        header_end > size or (pixel_ref is None and 0 < size - header_end < 8)
    )
    if pixel_ref is not None:
        tag, element, pixels_truncated, _ = pixel_ref
        meta[tag] = element
        truncated = truncated or pixels_truncated
    return _header(ds, meta, truncated=truncated)


def _read_deflated(fp: IO[bytes], *, uri: str) -> Header:
    """Deflated files are parsed from an inflated copy, so byte offsets into the file do
    not exist: read the whole dataset and reference bulk values by tag."""
    fp.seek(0)
    try:
        ds = read_file(cast(BinaryIO, fp), stop_before_pixels=False)
        meta = dataset_to_json(ds, uri=uri)
    except Exception as exc:
        raise InvalidHeaderError(
            f"{uri}: cannot inflate or parse ({type(exc).__name__}: {exc})"
        ) from exc
    return _header(ds, meta, truncated=False)


def _header(ds: FileDataset, meta: dict[str, Any], *, truncated: bool) -> Header:
    return Header(
        meta=dumps(dict(sorted(meta.items()))),
        sop_instance_uid=_text(ds, "SOPInstanceUID")
        or _meta_text(ds, "MediaStorageSOPInstanceUID"),
        sop_class_uid=_text(ds, "SOPClassUID") or _meta_text(ds, "MediaStorageSOPClassUID"),
        study_instance_uid=_text(ds, "StudyInstanceUID"),
        series_instance_uid=_text(ds, "SeriesInstanceUID"),
        patient_id=_text(ds, "PatientID"),
        modality=_text(ds, "Modality"),
        study_date=_date(_text(ds, "StudyDate")),
        series_number=_int(ds, "SeriesNumber"),
        instance_number=_int(ds, "InstanceNumber"),
        rows=_int(ds, "Rows"),
        columns=_int(ds, "Columns"),
        number_of_frames=_int(ds, "NumberOfFrames"),
        bits_allocated=_int(ds, "BitsAllocated"),
        photometric_interpretation=_text(ds, "PhotometricInterpretation"),
        transfer_syntax_uid=_transfer_syntax(ds),
        manufacturer=_text(ds, "Manufacturer"),
        body_part_examined=_text(ds, "BodyPartExamined"),
        truncated=truncated,
    )


def dataset_to_json(ds: FileDataset, *, uri: str) -> dict[str, Any]:
    """The DICOM JSON model of the file meta group and the dataset, bulk values as URIs."""

    out: dict[str, Any] = {}
    file_meta: Dataset | None = getattr(ds, "file_meta", None)
    if file_meta is not None and len(file_meta):
        out.update(_to_json(file_meta, uri=uri))
    out.update(_to_json(ds, uri=uri))
    return out


def _to_json(ds: Dataset, *, uri: str) -> dict[str, Any]:
    def bulk_uri(elem: DataElement) -> str:
        return f"{uri}?tag={elem.tag:08X}"

    result: dict[str, Any] = ds.to_json_dict(
        bulk_data_threshold=BULK_DATA_THRESHOLD, bulk_data_element_handler=bulk_uri
    )
    return result


def _declared_end(ds: Dataset) -> int:
    """File offset where the last parsed top-level element's value ends."""
    end = 0
    for elem in ds._dict.values():
        tell = getattr(elem, "value_tell", None)
        length = getattr(elem, "length", None)
        if isinstance(tell, int) and isinstance(length, int) and length != _UNDEFINED:
            end = max(end, tell + length)
    return end


def _read_trailing(fp: IO[bytes], ds: FileDataset, offset: int, tag: int) -> Dataset | None:
    """Elements stored after Pixel Data (tag ``tag``, e.g. Data Set Trailing Padding), up
    to the end of the dataset: bytes after it (zeros, junk) are not walked."""
    implicit, little = ds.original_encoding
    fp.seek(offset)
    if not fp.read(8):
        return None
    fp.seek(offset)
    try:
        trailing = read_elements(
            cast(BinaryIO, fp), implicit_vr=bool(implicit), little_endian=bool(little), after=tag
        )
    except Exception:  # an unreadable tail does not invalidate the header before it
        return None
    return trailing if len(trailing) else None


def _pixel_data_reference(
    fp: IO[bytes], ds: FileDataset, *, uri: str, file_size: int | None
) -> tuple[str, dict[str, Any], bool, int] | None:
    """Parse the pixel data element header where ``stop_before_pixels`` left the file.

    Returns ``(hex tag, JSON element with BulkDataURI, truncated?, end offset)`` or None.
    """
    start = fp.tell()
    head = fp.read(12)
    if len(head) < 8:
        return None
    implicit, little = ds.original_encoding
    if implicit is None or little is None:
        return None
    order = "<" if little else ">"
    group, element = struct.unpack(f"{order}HH", head[:4])
    tag = (group << 16) | element
    if tag not in _PIXEL_TAGS:
        return None
    # Some writers switch to implicit VR for Pixel Data inside an explicit VR file.
    if implicit or head[4:6] not in VRS:
        vr = _PIXEL_TAGS[tag] if tag != 0x7FE00010 else _implicit_pixel_vr(ds)
        (length,) = struct.unpack(f"{order}I", head[4:8])
        offset = start + 8
    else:
        vr = head[4:6].decode("ascii", "replace")
        if vr in _LONG_VRS:
            if len(head) < 12:
                return None
            (length,) = struct.unpack(f"{order}I", head[8:12])
            offset = start + 12
        else:
            (length,) = struct.unpack(f"{order}H", head[6:8])
            offset = start + 8
    size = file_size
    if length == _UNDEFINED:
        end = _encapsulated_end(fp, offset, order=order)
        truncated = end is None
        length = (end if end is not None else (size or offset)) - offset
    else:
        truncated = size is not None and offset + length > size
    return (
        f"{tag:08X}",
        {"vr": vr, "BulkDataURI": f"{uri}?offset={offset}&length={length}"},
        truncated,
        offset + length,
    )


def _encapsulated_end(fp: IO[bytes], offset: int, *, order: str) -> int | None:
    """Walk the fragment items of encapsulated Pixel Data; None if they run past the end."""
    fp.seek(offset)
    while True:
        item = fp.read(8)
        if len(item) < 8:
            return None
        group, element, length = struct.unpack(f"{order}HHI", item)
        if (group, element) == (0xFFFE, 0xE0DD):
            return fp.tell()
        if (group, element) != (0xFFFE, 0xE000) or length == _UNDEFINED:
            return None
        start = fp.tell()
        fp.seek(length, os.SEEK_CUR)
        if len(fp.read(1)) == 0 and length > 0:
            return None
        fp.seek(start + length)


def _implicit_pixel_vr(ds: Dataset) -> str:
    bits = ds.get("BitsAllocated", 16)
    return "OB" if isinstance(bits, int) and bits <= 8 else "OW"


def _size_of(fp: IO[bytes]) -> int | None:
    try:
        return os.fstat(fp.fileno()).st_size
    except (AttributeError, OSError, ValueError):
        try:
            pos = fp.tell()
            end = fp.seek(0, os.SEEK_END)
            fp.seek(pos)
            return end
        except (OSError, ValueError):
            return None


def _meta_text(ds: FileDataset, keyword: str) -> str | None:
    """A file meta value; the SOP UIDs fall back to it (e.g. DICOMDIR has no SOPClassUID)."""
    file_meta = getattr(ds, "file_meta", None)
    return None if file_meta is None else _text(file_meta, keyword)


def _transfer_syntax(ds: FileDataset) -> str | None:
    return _meta_text(ds, "TransferSyntaxUID")


def _value(ds: Dataset, keyword: str) -> Any:
    try:
        value = ds.get(keyword)
    except Exception:  # an invalid value is left to the JSON, not the typed column
        return None
    if value is None or value == "":
        return None
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return value[0] if len(value) else None
    return value


def _text(ds: Dataset, keyword: str) -> str | None:
    value = _value(ds, keyword)
    if value is None:
        return None
    text = str(value).strip().strip("\x00")
    return text or None


def _int(ds: Dataset, keyword: str) -> int | None:
    value = _value(ds, keyword)
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _date(text: str | None) -> date | None:
    if text is None:
        return None
    digits = text.replace(".", "").replace("-", "")
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None
