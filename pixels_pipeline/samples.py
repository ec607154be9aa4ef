"""Seed a landing zone with sample drops of real DICOM files from installed packages.

``python -m pixels_pipeline.samples <landing>`` copies files from pydicom's bundled test
files and the ``pydicom-data`` package into a few drops, writing each drop's ``_SUCCESS``
marker last, exactly like a well-behaved uploader.
"""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import pydicom

from pixels_pipeline.storage.landing import SUCCESS_MARKER

# Hand-picked so the UI shows CT, MR, multi-frame, colour, JPEG, JPEG 2000 and RLE.
SAMPLE_DROPS: dict[str, tuple[str, ...]] = {
    "sample-ct-mr": (
        "CT_small.dcm",
        "MR_small.dcm",
        "emri_small.dcm",
        "MR-SIEMENS-DICOM-WithOverlays.dcm",
        "rtdose.dcm",
        "waveform_ecg.dcm",
        "README.txt",
    ),
    "sample-compressed": (
        "SC_rgb_jpeg_gdcm.dcm",
        "JPEG2000.dcm",
        "MR_small_RLE.dcm",
        "MR_small_jp2klossless.dcm",
        "JPEG-LL.dcm",
        "SC_rgb_rle.dcm",
        "US1_J2KR.dcm",
        "OBXXXX1A.dcm",
    ),
}


def pydicom_test_files() -> Path:
    """The folder of test files bundled with pydicom."""
    return Path(pydicom.__file__).parent / "data" / "test_files"


def pydicom_data_files() -> Path | None:
    """The folder of the ``pydicom-data`` package's files, if it is installed."""
    try:
        return Path(str(resources.files("data_store"))) / "data"
    except ModuleNotFoundError:
        return None


def find_test_file(name: str) -> Path | None:
    """A test file by name from pydicom's bundled files or ``pydicom-data`` (never the network)."""
    for folder in (pydicom_test_files(), pydicom_data_files()):
        if folder is not None and (folder / name).is_file():
            return folder / name
    return None


def copy_drop(
    landing: Path, drop_id: str, files: Sequence[Path], *, base: Path | None = None
) -> Path:
    """Copy ``files`` into ``landing/drop_id`` (keeping paths relative to ``base``), then
    write ``_SUCCESS``."""
    target = landing / drop_id
    for src in files:
        rel = src.relative_to(base) if base is not None else Path(src.name)
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target / rel)
    (target / SUCCESS_MARKER).write_text("")
    return target


def copy_tree_drop(landing: Path, drop_id: str, source: Path) -> Path:
    """A drop holding every file below ``source``, sub-folders included."""
    files = sorted(p for p in source.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    return copy_drop(landing, drop_id, files, base=source)


def seed_samples(landing: Path) -> list[str]:
    """Create the sample drops that do not exist yet; return all sample drop ids."""
    landing.mkdir(parents=True, exist_ok=True)
    for drop_id, names in SAMPLE_DROPS.items():
        if not (landing / drop_id).exists():
            copy_drop(landing, drop_id, [p for p in map(find_test_file, names) if p is not None])
    ids = list(SAMPLE_DROPS)
    extra = pydicom_data_files()
    if extra is not None and extra.is_dir():
        if not (landing / "sample-pydicom-data").exists():
            copy_tree_drop(landing, "sample-pydicom-data", extra)
        ids.append("sample-pydicom-data")
    return ids


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("landing", type=Path, help="landing zone folder")
    parser.add_argument(
        "--all-test-files", action="store_true", help="also add a drop of every pydicom test file"
    )
    args = parser.parse_args(argv)
    ids = seed_samples(args.landing)
    if args.all_test_files and not (args.landing / "pydicom-test-files").exists():
        copy_tree_drop(args.landing, "pydicom-test-files", pydicom_test_files())
        ids.append("pydicom-test-files")
    print(f"landing zone {args.landing}: drops {', '.join(ids)}")


if __name__ == "__main__":
    main()
