"""Series geometry from Image Position / Orientation (Patient), never from Instance Number.

A series is summarised from one record per instance: its position, orientation, matrix
size, pixel spacing and frame count. Slices are placed by projecting each Image Position
(Patient) onto the normal of the image plane (the cross product of the row and column
direction cosines), sorted, and the steps between neighbours give the slice spacing.

Tolerances (documented in the README's "Gold tables" section):

* two orientations are the same when every direction cosine differs by at most
  ``ORIENTATION_TOLERANCE``;
* two slices are at the same position (a duplicate) when their distance along the normal
  is at most ``SPACING_ABSOLUTE_TOLERANCE_MM``;
* spacing is uniform when ``max - min`` of the steps is at most
  ``max(SPACING_ABSOLUTE_TOLERANCE_MM, SPACING_RELATIVE_TOLERANCE * median step)``;
* a step of ``k`` median steps (``k >= 2``, rounded) means ``k - 1`` missing slices.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

__all__ = [
    "ORIENTATION_TOLERANCE",
    "SPACING_ABSOLUTE_TOLERANCE_MM",
    "SPACING_RELATIVE_TOLERANCE",
    "InstanceGeometry",
    "SeriesGeometry",
    "acquisition_datetime",
    "series_geometry",
]

ORIENTATION_TOLERANCE = 1e-4
SPACING_ABSOLUTE_TOLERANCE_MM = 0.01
SPACING_RELATIVE_TOLERANCE = 0.01


@dataclass(frozen=True)
class InstanceGeometry:
    """What one instance says about where its pixels are."""

    position: tuple[float, ...] | None  # (0020,0032) x, y, z of the first pixel, mm
    orientation: tuple[float, ...] | None  # (0020,0037) row then column direction cosines
    rows: int | None = None
    columns: int | None = None
    pixel_spacing: tuple[float, ...] | None = None  # (0028,0030) row, column spacing, mm
    frames: int | None = None  # (0028,0008); None means one


@dataclass(frozen=True)
class SeriesGeometry:
    """A series' geometry summary; spacing fields are None when undefined."""

    orientation_count: int  # distinct orientations among positioned instances
    orientation: tuple[float, ...] | None  # the one orientation, if there is exactly one
    slice_spacing_min: float | None  # steps between distinct neighbouring positions, mm
    slice_spacing_mean: float | None
    slice_spacing_max: float | None
    duplicate_positions: int  # slices at a position another slice of its orientation holds
    missing_positions: int | None  # slices missing from gaps (None: not one orientation)
    is_regular_volume: bool


def _vector(values: Sequence[float] | None, size: int) -> np.ndarray | None:
    if values is None or len(values) != size:
        return None
    arr = np.asarray(values, dtype=float)
    return arr if bool(np.all(np.isfinite(arr))) else None


def _orientation_groups(
    placed: list[tuple[np.ndarray, np.ndarray]],
) -> list[tuple[np.ndarray, list[np.ndarray]]]:
    """Positions grouped by orientation (within tolerance), in first-seen order."""
    groups: list[tuple[np.ndarray, list[np.ndarray]]] = []
    for position, orientation in placed:
        for known, members in groups:
            if bool(np.all(np.abs(known - orientation) <= ORIENTATION_TOLERANCE)):
                members.append(position)
                break
        else:
            groups.append((orientation, [position]))
    return groups


def _distances(orientation: np.ndarray, positions: list[np.ndarray]) -> np.ndarray:
    normal = np.cross(orientation[:3], orientation[3:])
    return np.sort(np.array([float(np.dot(normal, p)) for p in positions]))


def _tolerance(reference: float) -> float:
    return max(SPACING_ABSOLUTE_TOLERANCE_MM, SPACING_RELATIVE_TOLERANCE * reference)


def _same(values: Sequence[object]) -> bool:
    return len(set(values)) == 1


def series_geometry(instances: Sequence[InstanceGeometry]) -> SeriesGeometry:
    """Orientation, slice spacing along the normal, duplicate and missing positions, and
    whether the instances form a regular volume: at least two single-frame slices, all
    positioned, one orientation, one matrix size and pixel spacing, no duplicate position,
    no gap, and uniform spacing within the module's tolerance."""
    placed = []
    for inst in instances:
        position, orientation = _vector(inst.position, 3), _vector(inst.orientation, 6)
        if position is not None and orientation is not None:
            placed.append((position, orientation))
    groups = _orientation_groups(placed)
    duplicates = 0
    for orientation, members in groups:
        steps = np.diff(_distances(orientation, members))
        duplicates += int(np.sum(steps <= SPACING_ABSOLUTE_TOLERANCE_MM))
    if len(groups) != 1:
        return SeriesGeometry(len(groups), None, None, None, None, duplicates, None, False)
    orientation, members = groups[0]
    steps = np.diff(_distances(orientation, members))
    steps = steps[steps > SPACING_ABSOLUTE_TOLERANCE_MM]
    one = tuple(float(v) for v in orientation)
    if steps.size == 0:
        return SeriesGeometry(1, one, None, None, None, duplicates, 0, False)
    reference = float(np.median(steps))
    multiples = np.rint(steps / reference)
    missing = int(np.sum(np.where(multiples >= 2, multiples - 1, 0)))
    uniform = float(steps.max() - steps.min()) <= _tolerance(reference)
    regular = (
        len(placed) == len(instances)
        and len(placed) >= 2
        and all((inst.frames or 1) == 1 for inst in instances)
        and _same([(inst.rows, inst.columns) for inst in instances])
        and _same([_rounded(inst.pixel_spacing) for inst in instances])
        and duplicates == 0
        and missing == 0
        and uniform
    )
    return SeriesGeometry(
        1,
        one,
        float(steps.min()),
        float(steps.mean()),
        float(steps.max()),
        duplicates,
        missing,
        regular,
    )


def _rounded(values: Sequence[float] | None) -> tuple[float, ...] | None:
    """Pixel spacings equal to 1e-6 mm count as one (DS strings round differently)."""
    return None if values is None else tuple(round(float(v), 6) for v in values)


def acquisition_datetime(
    date_time: str | None, date: str | None, time: str | None
) -> datetime | None:
    """The instance's acquisition moment from Acquisition DateTime (0008,002A), else
    Acquisition Date (0008,0022) + Acquisition Time (0008,0032); local time as DICOM gives
    it (a UTC offset in the DT is ignored). None when missing or malformed."""
    if date_time:
        text = date_time.strip()
        for sign in "+-":
            if sign in text[8:]:
                text = text[: 8 + text[8:].index(sign)]
        return _parse(text[:8], text[8:])
    if date and time:
        return _parse(date.strip(), time.strip())
    return None


def _parse(date: str, time: str) -> datetime | None:
    """``YYYYMMDD`` and ``HH[MM[SS[.F{1,6}]]]`` (also the old ``HH:MM:SS`` form)."""
    if len(date) != 8 or not date.isdigit():
        return None
    clock, _, fraction = time.replace(":", "").partition(".")
    if not clock.isdigit() or len(clock) not in (0, 2, 4, 6):
        return None
    if fraction and not fraction.isdigit():
        return None
    hh, mm, ss = (int(clock[i : i + 2]) if len(clock) > i else 0 for i in (0, 2, 4))
    micro = int(fraction[:6].ljust(6, "0")) if fraction else 0
    try:
        return datetime(int(date[:4]), int(date[4:6]), int(date[6:]), hh, mm, min(ss, 59), micro)
    except ValueError:
        return None
