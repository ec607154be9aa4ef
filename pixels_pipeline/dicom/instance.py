"""Metadata rows for one cataloged file: the header or a typed error, never an exception."""

from __future__ import annotations

from dataclasses import fields
from typing import IO, Any

from pixels_pipeline.dicom.errors import ErrorType, classify
from pixels_pipeline.dicom.header import read_header

_HEADER_COLUMNS = (
    "meta",
    "sop_instance_uid",
    "sop_class_uid",
    "study_instance_uid",
    "series_instance_uid",
    "patient_id",
    "modality",
    "study_date",
    "series_number",
    "instance_number",
    "rows",
    "columns",
    "number_of_frames",
    "bits_allocated",
    "photometric_interpretation",
    "transfer_syntax_uid",
    "manufacturer",
    "body_part_examined",
)


def empty_metadata_row() -> dict[str, Any]:
    return dict.fromkeys((*_HEADER_COLUMNS, "error_type", "error_message"))


def metadata_row(
    fp: IO[bytes] | None, *, uri: str, is_dicom: bool, size: int | None
) -> dict[str, Any]:
    """The ``metadata`` columns (without row_id/path/drop_id) for one file.

    ``fp`` is the open file (None when it could not be opened: pass the error through
    ``error_row``). Files the catalog found not to be DICOM are not parsed again.
    """
    row = empty_metadata_row()
    if not is_dicom or fp is None:
        row["error_type"] = ErrorType.NOT_DICOM.value
        row["error_message"] = f"{uri}: no DICM prefix and no plausible headerless start"
        return row
    try:
        header = read_header(fp, uri=uri, file_size=size)
    except Exception as exc:
        return error_row(exc, uri=uri)
    # A shallow copy: asdict() deep-copies every (immutable) value, ~10 % of a fast header.
    values = {f.name: getattr(header, f.name) for f in fields(header)}
    truncated = values.pop("truncated")
    row.update(values)
    if truncated:
        row["error_type"] = ErrorType.TRUNCATED.value
        row["error_message"] = (
            f"{uri}: the file ends before its declared content (header or Pixel Data)"
        )
    return row


def error_row(exc: BaseException, *, uri: str) -> dict[str, Any]:
    """An all-null metadata row carrying the typed error of ``exc``."""
    row = empty_metadata_row()
    error_type, message = classify(exc)
    row["error_type"] = error_type.value
    row["error_message"] = message if message.startswith(uri) else f"{uri}: {message}"
    return row
