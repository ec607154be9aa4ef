"""Series of real DICOM files for the gold tables' tests: a real CT (pydicom's
``CT_small.dcm``) copied once per slice, with its UIDs and Image Position/Orientation
(Patient) set by pydicom, then saved."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pydicom
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
SAGITTAL = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)


def uid(name: str) -> str:
    """A valid UID derived from ``name`` (the same name gives the same UID)."""
    return str(generate_uid(entropy_srcs=[name]))


def write_slices(
    folder: Path,
    *,
    study: str,
    series: str,
    slices: Sequence[tuple[tuple[float, float, float], tuple[float, ...]]],
    first_index: int = 0,
) -> list[Path]:
    """One file per (position, orientation) in ``folder``; SOP Instance UIDs from the
    series name and the slice's index (from ``first_index``)."""
    source = get_testdata_file("CT_small.dcm")
    assert source is not None
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for offset, (position, orientation) in enumerate(slices):
        index = first_index + offset
        ds = pydicom.dcmread(source)
        ds.StudyInstanceUID = uid(study)
        ds.SeriesInstanceUID = uid(series)
        ds.SOPInstanceUID = uid(f"{series}/{index}")
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.ImagePositionPatient = [f"{v:.4f}" for v in position]
        ds.ImageOrientationPatient = [f"{v:.4f}" for v in orientation]
        ds.InstanceNumber = index + 1
        ds.AcquisitionTime = f"1200{index:02d}"
        path = folder / f"{series}_{index:03d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths
