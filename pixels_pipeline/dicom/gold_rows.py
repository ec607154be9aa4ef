"""Gold rows from metadata rows, as plain Python: one ``series`` row per Series Instance
UID and one ``studies`` row per Study Instance UID.

The Spark update (each partition's UIDs after a shuffle by key) and the driver update (a
few touched UIDs read with delta-rs) both call these functions, so a table never depends
on which path computed it. Input rows are ``metadata`` rows (as dicts, ``meta`` the
DICOM JSON text) with the file's ``length`` from ``object_catalog``. Values that are not
typed metadata columns come from ``meta``; a malformed ``meta`` gives nulls, not errors.

Aggregates follow SQL: nulls are ignored (``min``, distinct counts, sets), sets are
sorted, a value "agreed" is the value when every instance that has one agrees, else null.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from pixels_pipeline.dicom.geometry import InstanceGeometry, acquisition_datetime, series_geometry

__all__ = [
    "SERIES_KEY",
    "STUDIES_KEY",
    "instance_fields",
    "series_rows",
    "study_rows",
]

SERIES_KEY = "series_instance_uid"
STUDIES_KEY = "study_instance_uid"

# DICOM JSON tags read from ``meta`` (metadata keeps its typed columns as they are).
_TEXT_TAGS = {
    "series_description": "0008103E",
    "manufacturer_model_name": "00081090",
    "patient_sex": "00100040",
    "patient_age": "00101010",
    "study_description": "00081030",
    "accession_number": "00080050",
    "acquisition_datetime": "0008002A",
    "acquisition_date": "00080022",
    "acquisition_time": "00080032",
}
_NUMBER_TAGS = {
    "image_position": "00200032",
    "image_orientation": "00200037",
    "pixel_spacing": "00280030",
}
_SLICE_THICKNESS = "00180050"
_SERIES_FIRST = (
    "study_instance_uid",
    "patient_id",
    "modality",
    "body_part_examined",
    "series_description",
    "series_number",
    "manufacturer",
    "manufacturer_model_name",
)
_STUDY_FIRST = (
    "patient_id",
    "patient_sex",
    "patient_age",
    "study_date",
    "study_description",
    "accession_number",
)

Row = dict[str, Any]


def instance_fields(row: Mapping[str, Any]) -> Row:
    """A metadata row (with ``length``) without ``meta``, plus the header values the gold
    tables need from it: texts, positions/orientation/spacing as float tuples, slice
    thickness."""
    meta = _parse(row.get("meta"))
    out: Row = {k: v for k, v in row.items() if k != "meta"}
    for name, tag in _TEXT_TAGS.items():
        out[name] = _text(meta, tag)
    for name, tag in _NUMBER_TAGS.items():
        out[name] = _numbers(meta, tag)
    thickness = _numbers(meta, _SLICE_THICKNESS)
    out["slice_thickness"] = thickness[0] if thickness else None
    return out


def series_rows(instances: Iterable[Mapping[str, Any]]) -> list[Row]:
    """One row per Series Instance UID of ``instance_fields`` rows (sorted by UID), with
    every ``series`` column but the trailer (``metadata_version``, ``updated_at``).
    Where instances disagree on a descriptive value, the smallest one is kept."""
    out = []
    for uid, rows in _groups(instances, SERIES_KEY):
        row: Row = {SERIES_KEY: uid}
        row.update({c: _least(rows, c) for c in _SERIES_FIRST})
        row["sop_class_uids"] = _set(rows, "sop_class_uid")
        row["transfer_syntax_uids"] = _set(rows, "transfer_syntax_uid")
        row.update(_counts(rows))
        for name in ("rows", "columns", "pixel_spacing", "slice_thickness"):
            row[name] = _agreed(rows, name)
        row.update(_geometry(rows))
        if row["pixel_spacing"] is not None:
            row["pixel_spacing"] = list(row["pixel_spacing"])
        out.append(row)
    return out


def study_rows(instances: Iterable[Mapping[str, Any]]) -> list[Row]:
    """One row per Study Instance UID of ``instance_fields`` rows (sorted by UID), with
    every ``studies`` column but the trailer."""
    out = []
    for uid, rows in _groups(instances, STUDIES_KEY):
        row: Row = {STUDIES_KEY: uid}
        row.update({c: _least(rows, c) for c in _STUDY_FIRST})
        row["modalities"] = _set(rows, "modality")
        row["series_count"] = len({r[SERIES_KEY] for r in rows if r.get(SERIES_KEY) is not None})
        row.update(_counts(rows))
        out.append(row)
    return out


def _groups(
    instances: Iterable[Mapping[str, Any]], key: str
) -> list[tuple[str, list[Mapping[str, Any]]]]:
    grouped: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in instances:
        uid = row.get(key)
        if uid is not None:
            grouped[uid].append(row)
    return sorted(grouped.items())


def _present(rows: Sequence[Mapping[str, Any]], name: str) -> list[Any]:
    return [r[name] for r in rows if r.get(name) is not None]


def _least(rows: Sequence[Mapping[str, Any]], name: str) -> Any:
    return min(_present(rows, name), default=None)


def _set(rows: Sequence[Mapping[str, Any]], name: str) -> list[Any]:
    return sorted(set(_present(rows, name)))


def _agreed(rows: Sequence[Mapping[str, Any]], name: str) -> Any:
    values = set(_present(rows, name))
    return values.pop() if len(values) == 1 else None


def _counts(rows: Sequence[Mapping[str, Any]]) -> Row:
    lengths = _present(rows, "length")
    return {
        "instance_count": len(set(_present(rows, "sop_instance_uid"))),
        "file_count": len(rows),
        "total_bytes": sum(lengths) if lengths else None,
        "drop_ids": _set(rows, "drop_id"),
        "error_count": sum(1 for r in rows if r.get("error_type") is not None),
    }


def _instances_once(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Files holding the same SOP Instance (re-encoded copies) count once: the first in
    (drop, row id) order; rows without a SOP Instance UID each count."""
    ordered = sorted(rows, key=lambda r: (r.get("drop_id") or "", r.get("row_id") or ""))
    seen: set[str] = set()
    out = []
    for row in ordered:
        sop = row.get("sop_instance_uid")
        if sop is not None:
            if sop in seen:
                continue
            seen.add(sop)
        out.append(row)
    return out


def _geometry(rows: Sequence[Mapping[str, Any]]) -> Row:
    records = _instances_once(rows)
    geometry = series_geometry(
        [
            InstanceGeometry(
                position=r["image_position"],
                orientation=r["image_orientation"],
                rows=r.get("rows"),
                columns=r.get("columns"),
                pixel_spacing=r["pixel_spacing"],
                frames=r.get("number_of_frames"),
            )
            for r in records
        ]
    )
    moments = [m for r in records if (m := _acquired(r)) is not None]
    return {
        "frame_count": sum(r.get("number_of_frames") or 1 for r in records),
        "first_acquisition": min(moments, default=None),
        "last_acquisition": max(moments, default=None),
        "orientation_count": geometry.orientation_count,
        "single_orientation": geometry.orientation_count == 1,
        "image_orientation": list(geometry.orientation) if geometry.orientation else None,
        "slice_spacing_min": geometry.slice_spacing_min,
        "slice_spacing_mean": geometry.slice_spacing_mean,
        "slice_spacing_max": geometry.slice_spacing_max,
        "duplicate_positions": geometry.duplicate_positions,
        "missing_positions": geometry.missing_positions,
        "is_regular_volume": geometry.is_regular_volume,
    }


def _acquired(row: Mapping[str, Any]) -> datetime | None:
    """Acquisition moment as DICOM gives it (local time), stored as a UTC timestamp."""
    moment = acquisition_datetime(
        row["acquisition_datetime"], row["acquisition_date"], row["acquisition_time"]
    )
    return None if moment is None else moment.replace(tzinfo=timezone.utc)


def _parse(meta: Any) -> Mapping[str, Any]:
    if not isinstance(meta, str):
        return {}
    try:
        parsed = json.loads(meta)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _values(meta: Mapping[str, Any], tag: str) -> list[Any] | None:
    element = meta.get(tag)
    values = element.get("Value") if isinstance(element, dict) else None
    return values if isinstance(values, list) and values else None


def _text(meta: Mapping[str, Any], tag: str) -> str | None:
    values = _values(meta, tag)
    first = values[0] if values else None
    if first is None or isinstance(first, str):
        return first
    return json.dumps(first, separators=(",", ":"))  # not a text value: its JSON


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _numbers(meta: Mapping[str, Any], tag: str) -> tuple[float, ...] | None:
    """The element's values as floats, or None when absent or any value is not a number
    (e.g. a malformed decimal string kept as text)."""
    values = _values(meta, tag)
    if values is None or not all(_is_number(v) for v in values):
        return None
    return tuple(float(v) for v in values)


Builder = Callable[[Iterable[Mapping[str, Any]]], list[Row]]
BUILDERS: dict[str, Builder] = {"series": series_rows, "studies": study_rows}
"""The row builder of each gold table."""
