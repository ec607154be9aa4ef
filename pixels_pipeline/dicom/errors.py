"""Typed errors raised by the pure DICOM functions.

Plain functions raise a :class:`DicomError` subclass; the Spark layer catches it per file
and stores ``error_type`` and ``error_message`` columns, so one bad file never fails a run.
Messages name the file and the failing thing, and never contain PHI.
"""

from __future__ import annotations

from enum import Enum


class ErrorType(str, Enum):
    """The value stored in every table's ``error_type`` column."""

    NOT_DICOM = "not_dicom"
    TRUNCATED = "truncated"
    INVALID_HEADER = "invalid_header"
    EMPTY_DATASET = "empty_dataset"
    READ_ERROR = "read_error"
    NO_PIXEL_DATA = "no_pixel_data"
    UNSUPPORTED_TRANSFER_SYNTAX = "unsupported_transfer_syntax"
    DECODE_ERROR = "decode_error"
    DECODER_CRASH = "decoder_crash"
    DECODER_TIMEOUT = "decoder_timeout"
    RENDER_ERROR = "render_error"
    ARCHIVE_ERROR = "archive_error"
    SYMLINK = "symlink"  # a symbolic link: never followed
    SPECIAL_FILE = "special_file"  # FIFO, socket or device node: never opened
    IMAGE_TOO_LARGE = "image_too_large"  # declared pixel size beyond the budget
    INTERNAL_ERROR = "internal_error"


class DicomError(Exception):
    """Base class: carries an :class:`ErrorType` and a message without PHI."""

    error_type: ErrorType = ErrorType.INTERNAL_ERROR

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotDicomError(DicomError):
    error_type = ErrorType.NOT_DICOM


class TruncatedError(DicomError):
    error_type = ErrorType.TRUNCATED


class InvalidHeaderError(DicomError):
    error_type = ErrorType.INVALID_HEADER


class EmptyDatasetError(DicomError):
    error_type = ErrorType.EMPTY_DATASET


class ReadError(DicomError):
    error_type = ErrorType.READ_ERROR


class NoPixelDataError(DicomError):
    error_type = ErrorType.NO_PIXEL_DATA


class UnsupportedTransferSyntaxError(DicomError):
    error_type = ErrorType.UNSUPPORTED_TRANSFER_SYNTAX


class DecodeError(DicomError):
    error_type = ErrorType.DECODE_ERROR


class DecoderCrashError(DicomError):
    error_type = ErrorType.DECODER_CRASH


class DecoderTimeoutError(DicomError):
    error_type = ErrorType.DECODER_TIMEOUT


class RenderError(DicomError):
    error_type = ErrorType.RENDER_ERROR


class ArchiveError(DicomError):
    error_type = ErrorType.ARCHIVE_ERROR


class SymlinkError(DicomError):
    error_type = ErrorType.SYMLINK


class SpecialFileError(DicomError):
    error_type = ErrorType.SPECIAL_FILE


class ImageTooLargeError(DicomError):
    error_type = ErrorType.IMAGE_TOO_LARGE


TRANSIENT_ERRORS: frozenset[ErrorType] = frozenset(
    {ErrorType.READ_ERROR, ErrorType.DECODER_CRASH, ErrorType.DECODER_TIMEOUT}
)
"""Errors of the moment, not of the file (I/O and object-store errors, a decoder that
crashed or ran out of time or memory): their rows are computed again on the next
materialization even when the file is unchanged. Every other error type is a property
of the file's bytes and is kept until the file changes."""


def classify(exc: BaseException) -> tuple[ErrorType, str]:
    """Map any exception to ``(error_type, message)`` for an error row."""
    if isinstance(exc, DicomError):
        return exc.error_type, exc.message
    if isinstance(exc, EOFError):
        return ErrorType.TRUNCATED, f"unexpected end of data: {exc}"
    if isinstance(exc, OSError):
        # strerror, not str(exc): the latter repeats the file name (the row names the file)
        return ErrorType.READ_ERROR, f"{type(exc).__name__}: {exc.strerror or exc}"
    return ErrorType.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}"
