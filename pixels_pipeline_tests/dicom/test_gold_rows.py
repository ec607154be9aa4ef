"""The pure gold row builders on metadata rows of real files and on malformed headers."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from pixels_pipeline.dicom.gold_rows import instance_fields, series_rows, study_rows
from pixels_pipeline.dicom.header import read_header

from ..series_files import AXIAL, uid, write_slices


def metadata_row(path: Path, drop_id: str, length: int | None) -> dict[str, Any]:
    """The columns of a metadata row the builders read, from our own header reader."""
    with path.open("rb") as fp:
        header = read_header(fp, uri=str(path))
    meta = header.meta if isinstance(header.meta, str) else json.dumps(header.meta)
    ds = json.loads(meta)

    def text(tag: str) -> str | None:
        values = ds.get(tag, {}).get("Value")
        return str(values[0]) if values else None

    return {
        "drop_id": drop_id,
        "row_id": path.name,
        "meta": meta,
        "sop_instance_uid": text("00080018"),
        "sop_class_uid": text("00080016"),
        "study_instance_uid": text("0020000D"),
        "series_instance_uid": text("0020000E"),
        "patient_id": "p1",
        "modality": text("00080060"),
        "study_date": date(2024, 1, 2),
        "series_number": 7,
        "rows": 4,
        "columns": 4,
        "number_of_frames": None,
        "transfer_syntax_uid": "1.2.840.10008.1.2.1",
        "manufacturer": None,
        "body_part_examined": None,
        "error_type": None,
        "length": length,
    }


def test_series_from_real_files_counts_a_copy_once(tmp_path: Path) -> None:
    paths = write_slices(
        tmp_path / "a", study="s", series="ax", slices=[((0, 0, z), AXIAL) for z in (0, 2, 4)]
    )
    rows = [metadata_row(p, "drop-a", 100) for p in paths]
    copy = {**rows[0], "drop_id": "drop-b", "length": None}  # the same instance again
    broken = {**rows[1], "row_id": "x", "sop_instance_uid": None, "meta": "{not json"}
    broken["error_type"] = "truncated"
    instances = [instance_fields(r) for r in [*rows, copy, broken]]

    (series,) = series_rows(instances)
    assert series["series_instance_uid"] == uid("ax")
    assert (series["instance_count"], series["file_count"], series["error_count"]) == (3, 5, 1)
    assert series["total_bytes"] == 400 and series["drop_ids"] == ["drop-a", "drop-b"]
    # The broken row has no position: spacing comes from the others, not a regular volume.
    assert (series["slice_spacing_mean"], series["is_regular_volume"]) == (2.0, False)
    assert series["frame_count"] == 4 and series["manufacturer_model_name"] == "RHAPSODE"
    assert (series["rows"], series["columns"], series["series_number"]) == (4, 4, 7)
    (study,) = study_rows(instances)
    assert (study["series_count"], study["modalities"], study["file_count"]) == (1, ["CT"], 5)
    assert study["study_date"] == date(2024, 1, 2)


def test_header_values_are_typed_or_null() -> None:
    meta = {
        "00200032": {"vr": "DS", "Value": [1, 2.5, "x"]},  # a value that is not a number
        "00200037": {"vr": "DS", "Value": [1, 0, 0, 0, 1, 0]},
        "00280030": {"vr": "DS", "Value": [0.5, 0.5]},
        "00180050": {"vr": "DS", "Value": [3]},
        "0008103E": {"vr": "LO", "Value": [12]},  # a number where text belongs: its JSON
        "0008002A": {"vr": "DT", "Value": ["20240102030405.5+0100"]},
    }
    fields = instance_fields({"series_instance_uid": "1", "meta": json.dumps(meta)})
    assert fields["image_position"] is None
    assert fields["image_orientation"] == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    assert (fields["pixel_spacing"], fields["slice_thickness"]) == ((0.5, 0.5), 3.0)
    assert fields["series_description"] == "12" and "meta" not in fields
    (series,) = series_rows([{**fields, "sop_instance_uid": "9"}])
    moment = datetime(2024, 1, 2, 3, 4, 5, 500000, tzinfo=timezone.utc)
    assert series["first_acquisition"] == series["last_acquisition"] == moment
    assert series["pixel_spacing"] == [0.5, 0.5] and series["slice_thickness"] == 3.0
    for meta_text in (None, "[]", "{bad", json.dumps({"00200032": {"Value": "1\\2\\3"}})):
        empty = instance_fields({"meta": meta_text})
        assert empty["image_position"] is None and empty["series_description"] is None
