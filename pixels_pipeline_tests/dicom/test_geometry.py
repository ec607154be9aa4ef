"""Series geometry on real files (a CT re-positioned per slice) and on edge cases."""

from datetime import datetime
from pathlib import Path

import pydicom
import pytest

from pixels_pipeline.dicom.geometry import (
    InstanceGeometry,
    acquisition_datetime,
    series_geometry,
)

from ..series_files import AXIAL, SAGITTAL, write_slices


def geometry_of(paths: list[Path]) -> list[InstanceGeometry]:
    out = []
    for path in paths:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        out.append(
            InstanceGeometry(
                position=tuple(float(v) for v in ds.ImagePositionPatient),
                orientation=tuple(float(v) for v in ds.ImageOrientationPatient),
                rows=int(ds.Rows),
                columns=int(ds.Columns),
                pixel_spacing=tuple(float(v) for v in ds.PixelSpacing),
                frames=int(getattr(ds, "NumberOfFrames", 1) or 1),
            )
        )
    return out


def test_regular_axial_stack_from_real_files(tmp_path: Path) -> None:
    # Written out of order: order must come from positions, not from file or instance number.
    zs = [5.0, 0.0, 10.0, 2.5, 7.5]
    paths = write_slices(
        tmp_path, study="s", series="a", slices=[((-10.0, -20.0, z), AXIAL) for z in zs]
    )
    g = series_geometry(geometry_of(paths))
    assert g.orientation_count == 1 and g.orientation == AXIAL
    assert g.slice_spacing_min == pytest.approx(2.5)
    assert g.slice_spacing_max == pytest.approx(2.5)
    assert g.slice_spacing_mean == pytest.approx(2.5)
    assert (g.duplicate_positions, g.missing_positions, g.is_regular_volume) == (0, 0, True)


def test_missing_slice_and_duplicate(tmp_path: Path) -> None:
    gap = write_slices(
        tmp_path / "gap", study="s", series="b", slices=[((0, 0, z), AXIAL) for z in (0, 3, 9, 12)]
    )
    g = series_geometry(geometry_of(gap))
    assert g.missing_positions == 1 and not g.is_regular_volume
    assert (g.slice_spacing_min, g.slice_spacing_max) == pytest.approx((3.0, 6.0))
    dup = write_slices(
        tmp_path / "dup", study="s", series="c", slices=[((0, 0, z), AXIAL) for z in (0, 2, 2, 4)]
    )
    g = series_geometry(geometry_of(dup))
    assert (g.duplicate_positions, g.missing_positions, g.is_regular_volume) == (1, 0, False)
    assert g.slice_spacing_min == pytest.approx(2.0)


def test_two_orientations(tmp_path: Path) -> None:
    slices = [
        ((0, 0, 0.0), AXIAL),
        ((0, 0, 5.0), AXIAL),
        ((1, 0, 0), SAGITTAL),
        ((3, 0, 0), SAGITTAL),
    ]
    g = series_geometry(geometry_of(write_slices(tmp_path, study="s", series="d", slices=slices)))
    assert g.orientation_count == 2 and g.orientation is None
    assert g.slice_spacing_mean is None and g.missing_positions is None
    assert not g.is_regular_volume


def test_oblique_spacing_is_along_the_normal() -> None:
    # Rows along x, columns tilted 30 degrees in y-z: the normal is (0, -sin, cos).
    cos, sin = 0.8660254, 0.5
    orientation = (1.0, 0.0, 0.0, 0.0, cos, sin)
    normal = (0.0, -sin, cos)
    slices = [
        InstanceGeometry(tuple(2.0 * k * n for n in normal), orientation, 4, 4, (1.0, 1.0))
        for k in range(4)
    ]
    g = series_geometry(slices)
    assert g.slice_spacing_mean == pytest.approx(2.0) and g.is_regular_volume


def test_not_a_volume() -> None:
    one = InstanceGeometry((0.0, 0.0, 0.0), AXIAL, 4, 4, (1.0, 1.0))
    assert not series_geometry([one]).is_regular_volume  # a single slice
    unplaced = InstanceGeometry(None, None, 4, 4, (1.0, 1.0))
    other = InstanceGeometry((0.0, 0.0, 1.0), AXIAL, 4, 4, (1.0, 1.0))
    assert not series_geometry([one, other, unplaced]).is_regular_volume
    resized = InstanceGeometry((0.0, 0.0, 1.0), AXIAL, 8, 8, (1.0, 1.0))
    assert not series_geometry([one, resized]).is_regular_volume
    assert series_geometry([one, other]).is_regular_volume
    # Uniform within tolerance (0.5 % jitter) still counts as regular.
    jitter = InstanceGeometry((0.0, 0.0, 2.005), AXIAL, 4, 4, (1.0, 1.0))
    assert series_geometry([one, other, jitter]).is_regular_volume
    assert series_geometry([]).orientation_count == 0


def test_acquisition_datetime() -> None:
    assert acquisition_datetime("20050101120000.5+0100", None, None) == datetime(
        2005, 1, 1, 12, 0, 0, 500000
    )
    assert acquisition_datetime(None, "19970430", "112936") == datetime(1997, 4, 30, 11, 29, 36)
    assert acquisition_datetime(None, "19970430", "11:29:36.25") == datetime(
        1997, 4, 30, 11, 29, 36, 250000
    )
    assert acquisition_datetime(None, "19970430", "1129") == datetime(1997, 4, 30, 11, 29)
    assert acquisition_datetime(None, None, "112936") is None
    assert acquisition_datetime(None, "1997", "112936") is None
    assert acquisition_datetime(None, "19971340", "112936") is None
