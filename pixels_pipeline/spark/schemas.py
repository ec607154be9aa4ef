"""Table schemas, written once in Arrow with a comment per column.

The Spark schema and the Delta schema are derived from these, so the three never drift.
"""

from __future__ import annotations

import pyarrow as pa
from pyspark.sql.pandas.types import from_arrow_schema
from pyspark.sql.types import StructType

PARTITION_COLUMN = "drop_id"
_TS = pa.timestamp("us", tz="UTC")


def _f(name: str, dtype: pa.DataType, comment: str) -> pa.Field:
    return pa.field(name, dtype, nullable=True, metadata={"comment": comment})


_ERROR_FIELDS = [
    _f("error_type", pa.string(), "null when the row succeeded, else an ErrorType value"),
    _f("error_message", pa.string(), "what failed, naming the file; never PHI"),
]

OBJECT_CATALOG = pa.schema(
    [
        _f("row_id", pa.string(), "stable hash (sha256, 32 hex) of path"),
        _f("path", pa.string(), "full URI of the file"),
        _f(PARTITION_COLUMN, pa.string(), "the drop (partition key) the file arrived in"),
        _f("fingerprint", pa.string(), "size:mtime_us[:sha256] of the file; changes when it does"),
        _f("relative_path", pa.string(), "path inside the drop folder"),
        _f("local_path", pa.string(), "local filesystem path; null for object storage"),
        _f("extension", pa.string(), "lower-case file extension without the dot"),
        _f("path_tags", pa.list_(pa.string()), "components of relative_path"),
        _f("length", pa.int64(), "file size in bytes"),
        _f("modification_time", _TS, "last modification time of the file"),
        _f(
            "is_dicom",
            pa.bool_(),
            "decided from content: DICM prefix or plausible headerless start",
        ),
        _f("is_anon", pa.bool_(), "read with anonymous object-store access"),
        _f("ingested_at", _TS, "when this row was cataloged"),
        *_ERROR_FIELDS,
    ]
)

METADATA = pa.schema(
    [
        _f("row_id", pa.string(), "object_catalog.row_id of the file"),
        _f("path", pa.string(), "full URI of the file"),
        _f(PARTITION_COLUMN, pa.string(), "the drop (partition key) the file arrived in"),
        _f("fingerprint", pa.string(), "object_catalog.fingerprint this row was computed from"),
        _f("meta", pa.string(), "full header as DICOM JSON (PS3.18 F.2), bulk data as BulkDataURI"),
        _f("sop_instance_uid", pa.string(), "(0008,0018) SOP Instance UID"),
        _f("sop_class_uid", pa.string(), "(0008,0016) SOP Class UID"),
        _f("study_instance_uid", pa.string(), "(0020,000D) Study Instance UID"),
        _f("series_instance_uid", pa.string(), "(0020,000E) Series Instance UID"),
        _f("patient_id", pa.string(), "(0010,0020) Patient ID (PHI: never logged)"),
        _f("modality", pa.string(), "(0008,0060) Modality"),
        _f("study_date", pa.date32(), "(0008,0020) Study Date"),
        _f("series_number", pa.int32(), "(0020,0011) Series Number"),
        _f("instance_number", pa.int32(), "(0020,0013) Instance Number"),
        _f("rows", pa.int32(), "(0028,0010) Rows"),
        _f("columns", pa.int32(), "(0028,0011) Columns"),
        _f("number_of_frames", pa.int32(), "(0028,0008) Number of Frames"),
        _f("bits_allocated", pa.int32(), "(0028,0100) Bits Allocated"),
        _f("photometric_interpretation", pa.string(), "(0028,0004) Photometric Interpretation"),
        _f("transfer_syntax_uid", pa.string(), "(0002,0010) Transfer Syntax UID"),
        _f("manufacturer", pa.string(), "(0008,0070) Manufacturer"),
        _f("body_part_examined", pa.string(), "(0018,0015) Body Part Examined"),
        *_ERROR_FIELDS,
    ]
)

_KEYS = [
    _f("row_id", pa.string(), "object_catalog.row_id of the file"),
    _f("path", pa.string(), "full URI of the file"),
    _f(PARTITION_COLUMN, pa.string(), "the drop (partition key) the file arrived in"),
    _f("fingerprint", pa.string(), "object_catalog.fingerprint this row was computed from"),
]

KEY_COLUMNS = tuple(f.name for f in _KEYS)
"""Columns every downstream row copies from its catalog row."""

THUMBNAILS = pa.schema(
    [
        *_KEYS,
        _f("sop_instance_uid", pa.string(), "(0008,0018) SOP Instance UID"),
        _f("modality", pa.string(), "(0008,0060) Modality"),
        _f("frame_index", pa.int32(), "0-based frame shown (the middle one of a multi-frame)"),
        _f("number_of_frames", pa.int32(), "frames in the source image"),
        _f(
            "thumbnail_png",
            pa.binary(),
            "PNG bytes, 8-bit grey or RGB, longest side max_size",
        ),
        _f("width", pa.int32(), "thumbnail width in pixels"),
        _f("height", pa.int32(), "thumbnail height in pixels"),
        _f("rows", pa.int32(), "source frame rows"),
        _f("columns", pa.int32(), "source frame columns"),
        _f("decoder", pa.string(), "decoder that produced the pixels (pydicom, pylibjpeg, ...)"),
        _f("settings", pa.string(), "JSON of the display settings applied (LUTs, window, colour)"),
        *_ERROR_FIELDS,
    ]
)

PATCHES = pa.schema(
    [
        *_KEYS,
        _f("frame_index", pa.int32(), "0-based frame the tile was cut from"),
        _f("x", pa.int32(), "column offset (in the total pixel matrix for whole slides)"),
        _f("y", pa.int32(), "row offset (in the total pixel matrix for whole slides)"),
        _f("width", pa.int32(), "tile width (smaller at the right border)"),
        _f("height", pa.int32(), "tile height (smaller at the bottom border)"),
        _f("encoding", pa.string(), "png (8-bit values) or raw (little-endian array bytes)"),
        _f("data", pa.binary(), "the tile: PNG bytes, or raw bytes to reshape with dtype/shape"),
        _f("dtype", pa.string(), "numpy dtype of the values, e.g. |u1 or <u2"),
        _f("shape", pa.list_(pa.int32()), "array shape: (height, width) or (height, width, 3)"),
        _f("foreground", pa.float64(), "share of non-background pixels in the tile"),
        *_ERROR_FIELDS,
    ]
)

_GOLD_TRAILER = [
    _f("drop_ids", pa.list_(pa.string()), "drops holding its instances, sorted"),
    _f("error_count", pa.int64(), "its metadata rows with an error_type (e.g. truncated files)"),
    _f("metadata_version", pa.int64(), "metadata table version this row was computed from"),
    _f("updated_at", _TS, "when this row was last recomputed"),
]

SERIES = pa.schema(
    [
        _f("series_instance_uid", pa.string(), "(0020,000E) Series Instance UID: the key"),
        _f("study_instance_uid", pa.string(), "(0020,000D) Study Instance UID"),
        _f("patient_id", pa.string(), "(0010,0020) Patient ID (PHI: never logged)"),
        _f("modality", pa.string(), "(0008,0060) Modality"),
        _f("body_part_examined", pa.string(), "(0018,0015) Body Part Examined"),
        _f("series_description", pa.string(), "(0008,103E) Series Description"),
        _f("series_number", pa.int32(), "(0020,0011) Series Number"),
        _f("manufacturer", pa.string(), "(0008,0070) Manufacturer"),
        _f("manufacturer_model_name", pa.string(), "(0008,1090) Manufacturer's Model Name"),
        _f("sop_class_uids", pa.list_(pa.string()), "distinct (0008,0016) SOP Class UIDs"),
        _f("transfer_syntax_uids", pa.list_(pa.string()), "distinct (0002,0010) Transfer Syntaxes"),
        _f("instance_count", pa.int64(), "distinct SOP Instance UIDs"),
        _f("file_count", pa.int64(), "metadata rows (files); above instance_count if duplicated"),
        _f("frame_count", pa.int64(), "Number of Frames (1 when absent) summed over instances"),
        _f("total_bytes", pa.int64(), "sum of the files' sizes (object_catalog.length)"),
        _f("rows", pa.int32(), "(0028,0010) Rows when all instances agree, else null"),
        _f("columns", pa.int32(), "(0028,0011) Columns when all instances agree, else null"),
        _f("pixel_spacing", pa.list_(pa.float64()), "(0028,0030) mm, when all agree, else null"),
        _f("slice_thickness", pa.float64(), "(0018,0050) mm, when all agree, else null"),
        _f("first_acquisition", _TS, "earliest acquisition date-time (DICOM local time)"),
        _f("last_acquisition", _TS, "latest acquisition date-time (DICOM local time)"),
        _f("orientation_count", pa.int32(), "distinct Image Orientation (Patient) values"),
        _f("single_orientation", pa.bool_(), "exactly one image orientation"),
        _f("image_orientation", pa.list_(pa.float64()), "(0020,0037) the one orientation"),
        _f("slice_spacing_min", pa.float64(), "smallest step between slices along the normal, mm"),
        _f("slice_spacing_mean", pa.float64(), "mean step between slices along the normal, mm"),
        _f("slice_spacing_max", pa.float64(), "largest step between slices along the normal, mm"),
        _f("duplicate_positions", pa.int32(), "slices at an already occupied position"),
        _f("missing_positions", pa.int32(), "slices missing from gaps in the spacing"),
        _f(
            "is_regular_volume",
            pa.bool_(),
            "one orientation, size and pixel spacing; uniform spacing, no duplicate or gap",
        ),
        *_GOLD_TRAILER,
    ]
)

STUDIES = pa.schema(
    [
        _f("study_instance_uid", pa.string(), "(0020,000D) Study Instance UID: the key"),
        _f("patient_id", pa.string(), "(0010,0020) Patient ID (PHI: never logged)"),
        _f("patient_sex", pa.string(), "(0010,0040) Patient's Sex"),
        _f("patient_age", pa.string(), "(0010,1010) Patient's Age, e.g. 045Y"),
        _f("study_date", pa.date32(), "(0008,0020) Study Date"),
        _f("study_description", pa.string(), "(0008,1030) Study Description"),
        _f("accession_number", pa.string(), "(0008,0050) Accession Number"),
        _f("modalities", pa.list_(pa.string()), "distinct modalities of its series, sorted"),
        _f("series_count", pa.int64(), "distinct Series Instance UIDs"),
        _f("instance_count", pa.int64(), "distinct SOP Instance UIDs"),
        _f("file_count", pa.int64(), "metadata rows (files)"),
        _f("total_bytes", pa.int64(), "sum of the files' sizes (object_catalog.length)"),
        *_GOLD_TRAILER,
    ]
)

GOLD_KEYS: dict[str, str] = {
    "series": "series_instance_uid",
    "studies": "study_instance_uid",
}
"""Gold tables: keyed by UID, not partitioned by drop."""

TABLES: dict[str, pa.Schema] = {
    "object_catalog": OBJECT_CATALOG,
    "metadata": METADATA,
    "thumbnails": THUMBNAILS,
    "patches": PATCHES,
    "series": SERIES,
    "studies": STUDIES,
}


def spark_schema(schema: pa.Schema) -> StructType:
    """The Spark StructType of an Arrow table schema (timestamps stay UTC-aware)."""
    return from_arrow_schema(schema, prefer_timestamp_ntz=False)
