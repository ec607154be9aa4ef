"""A benchmark drop: copies of real DICOM test files with fresh UIDs.

Why copies: the test corpora hold a few hundred small, odd files; a benchmark needs
thousands of ordinary ones in a realistic mix. Each copy keeps its source's encoding and
Pixel Data bytes and gets new SOP Instance / Series / Study UIDs, so per-file work is
real and duplicate detection sees distinct instances.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.uid import generate_uid

from pixels_pipeline.samples import find_test_file
from pixels_pipeline.storage.landing import SUCCESS_MARKER

# (file, weight): CT, MR, multi-frame US, JPEG baseline/lossless, JPEG 2000, RLE.
MIX: tuple[tuple[str, int], ...] = (
    ("693_UNCR.dcm", 3),  # CT 512x512, native
    ("CT_small.dcm", 2),  # CT 128x128, native
    ("693_J2KR.dcm", 1),  # CT 512x512, JPEG 2000 lossless
    ("MR_small.dcm", 2),  # MR 64x64, native
    ("MR-SIEMENS-DICOM-WithOverlays.dcm", 2),  # MR 484x484, native, overlays
    ("emri_small.dcm", 1),  # MR 10 frames, native
    ("examples_ybr_color.dcm", 2),  # US 30 frames, JPEG baseline YBR
    ("OBXXXX1A_rle_2frame.dcm", 1),  # US 2 frames, RLE
    ("US1_J2KR.dcm", 1),  # US 480x640, JPEG 2000 lossless
    ("SC_rgb_jpeg_dcmtk.dcm", 1),  # RGB JPEG baseline
    ("JPEG-LL.dcm", 1),  # NM 1024x256, JPEG lossless
    ("JPGLosslessP14SV1_1s_1f_8b.dcm", 1),  # US 768x1024, JPEG lossless
    ("JPEG2000.dcm", 1),  # NM, JPEG 2000
    ("US1_J2KI.dcm", 1),  # US, JPEG 2000 lossy
    ("MR_small_RLE.dcm", 1),  # MR, RLE
    ("OBXXXX1A_rle.dcm", 1),  # US 600x800, RLE
    ("SC_rgb_rle.dcm", 1),  # RGB, RLE
)
SERIES_SIZE = 20  # copies per series
SERIES_PER_STUDY = 5


@dataclass(frozen=True)
class Corpus:
    """The generated drop: its folder, files and total size."""

    drop_dir: Path
    files: tuple[Path, ...]
    total_bytes: int
    sources: dict[str, int]  # source file name -> copies


def available_sources() -> list[tuple[Path, int]]:
    """The files of :data:`MIX` that are installed (pydicom-data may be missing)."""
    found = [(find_test_file(name), weight) for name, weight in MIX]
    sources = [(path, weight) for path, weight in found if path is not None]
    if not sources:
        raise RuntimeError("no benchmark source files found (is pydicom installed?)")
    return sources


def build_corpus(drop_dir: Path, n_files: int) -> Corpus:
    """Write ``n_files`` copies into ``drop_dir`` (round robin by weight), then ``_SUCCESS``."""
    drop_dir.mkdir(parents=True, exist_ok=True)
    sources = available_sources()
    schedule = [path for path, weight in sources for _ in range(weight)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # odd test files warn on read
        datasets = {path: pydicom.dcmread(path) for path, _ in sources}
    files: list[Path] = []
    counts: dict[str, int] = {}
    total = 0
    study = series = ""
    for i in range(n_files):
        if i % (SERIES_SIZE * SERIES_PER_STUDY) == 0:
            study = generate_uid()
        if i % SERIES_SIZE == 0:
            series = generate_uid()
        source = schedule[i % len(schedule)]
        data = _copy_bytes(datasets[source], study=study, series=series)
        target = drop_dir / f"{i // 1000:03d}" / f"{i:06d}_{source.stem}.dcm"
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(data)
        files.append(target)
        counts[source.name] = counts.get(source.name, 0) + 1
        total += len(data)
    (drop_dir / SUCCESS_MARKER).write_text("")
    return Corpus(drop_dir, tuple(files), total, counts)


def add_late_files(corpus: Corpus, n_files: int) -> list[Path]:
    """``n_files`` more files in ``<drop>/late/``: copies of the drop's first files with new
    UIDs, as a late upload to an ingested drop; ``_SUCCESS`` is touched again."""
    folder = corpus.drop_dir / "late"
    folder.mkdir(exist_ok=True)
    added = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, source in enumerate(corpus.files[:n_files]):
            ds = pydicom.dcmread(source)
            target = folder / f"{i:06d}_{source.name}"
            target.write_bytes(
                _copy_bytes(ds, study=ds.StudyInstanceUID, series=ds.SeriesInstanceUID)
            )
            added.append(target)
    (corpus.drop_dir / SUCCESS_MARKER).write_text("")
    return added


def _copy_bytes(ds: pydicom.Dataset, *, study: str, series: str) -> bytes:
    """``ds`` saved with its own encoding and new UIDs (``ds`` is changed in place)."""
    uid = generate_uid()
    ds.SOPInstanceUID = uid
    ds.SeriesInstanceUID = series
    ds.StudyInstanceUID = study
    if getattr(ds, "file_meta", None) is not None:
        ds.file_meta.MediaStorageSOPInstanceUID = uid
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(buf, enforce_file_format=False)
    return buf.getvalue()
