"""Scaling: the catalog (and metadata) stage at several drop sizes, nested and flat.

``python -m pixels_pipeline.bench --scale 5000,50000 --scale-only`` writes, for each N,
N small real DICOM files (copies of small pydicom test files with fresh UIDs, so no
decoding budget explodes) twice: in sub-folders of :data:`PER_FOLDER` files and all in
one folder. The same bytes land in both layouts (separate files, not hard links: a
catalog must see distinct inodes). Each case measures the catalog stage (listing +
sniffing, written to Delta) as the median of ``repeats`` runs, optionally the metadata
stage once, and the driver's peak resident memory: the Python driver process and the
JVM apart (their Python workers are not the driver). Cost per file must stay flat as N
grows, and a flat drop must catalog about as fast as a nested one:
``scale.flat_vs_nested`` is flat files/s over nested files/s at the largest N.
"""

from __future__ import annotations

import os
import shutil
import statistics
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pydicom
from pyspark.sql import SparkSession

from pixels_pipeline import api
from pixels_pipeline.bench import pipeline
from pixels_pipeline.bench.corpus import _copy_bytes
from pixels_pipeline.bench.measure import SAMPLE_SECONDS, measure
from pixels_pipeline.bench.report import load_average
from pixels_pipeline.samples import find_test_file
from pixels_pipeline.storage.landing import SUCCESS_MARKER

Layout = Literal["nested", "flat"]
LAYOUTS: tuple[Layout, ...] = ("nested", "flat")
PER_FOLDER = 500  # files per sub-folder of the nested layout
SMALL_SOURCES = (  # 3-40 KB each, native and compressed
    "CT_small.dcm",
    "MR_small.dcm",
    "MR_small_RLE.dcm",
    "MR_small_jp2klossless.dcm",
    "SC_rgb.dcm",
    "JPEG2000.dcm",
    "SC_rgb_jpeg_dcmtk.dcm",
)
WARMUP_FILES = 500  # one unmeasured catalog first: JIT and Python workers warm
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass(frozen=True)
class ScaleDrops:
    """The same ``files`` files in both layouts; ``total_bytes`` per layout."""

    files: int
    drops: dict[Layout, Path]
    total_bytes: int


def build_drops(root: Path, n_files: int, *, per_folder: int = PER_FOLDER) -> ScaleDrops:
    """``n_files`` small DICOM files written to ``root/nested/drop`` (in folders of
    ``per_folder``) and, byte for byte the same, to ``root/flat/drop``; then ``_SUCCESS``."""
    sources = [p for p in (find_test_file(name) for name in SMALL_SOURCES) if p is not None]
    if not sources:
        raise RuntimeError("no small DICOM test files found (is pydicom installed?)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        datasets = [pydicom.dcmread(p) for p in sources]
    drops: dict[Layout, Path] = {layout: root / layout / "drop" for layout in LAYOUTS}
    for drop in drops.values():
        drop.mkdir(parents=True, exist_ok=True)
    total = 0
    study = series = ""
    for i in range(n_files):
        if i % 100 == 0:
            study = pydicom.uid.generate_uid()
        if i % 20 == 0:
            series = pydicom.uid.generate_uid()
        data = _copy_bytes(datasets[i % len(datasets)], study=study, series=series)
        name = f"{i:07d}.dcm"
        nested = drops["nested"] / f"{i // per_folder:04d}"
        if i % per_folder == 0:
            nested.mkdir(exist_ok=True)
        (nested / name).write_bytes(data)
        (drops["flat"] / name).write_bytes(data)
        total += len(data)
    for drop in drops.values():
        (drop / SUCCESS_MARKER).write_text("")
    return ScaleDrops(n_files, drops, total)


def _rss_bytes(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


@dataclass
class DriverPeaks:
    """Peak resident memory of the Python driver and of the JVM (its workers apart)."""

    python_bytes: int = 0
    jvm_bytes: int = 0


@contextmanager
def driver_peaks(jvm: int | None) -> Iterator[DriverPeaks]:
    """Sample this process's and the JVM's RSS while the block runs; keep the peaks."""
    peaks = DriverPeaks()
    stop = threading.Event()

    def sample() -> None:
        while True:
            peaks.python_bytes = max(peaks.python_bytes, _rss_bytes(os.getpid()))
            if jvm is not None:
                peaks.jvm_bytes = max(peaks.jvm_bytes, _rss_bytes(jvm))
            if stop.wait(SAMPLE_SECONDS):
                return

    sampler = threading.Thread(target=sample, name="bench-driver-rss", daemon=True)
    sampler.start()
    try:
        yield peaks
    finally:
        stop.set()
        sampler.join()


@dataclass
class StageCost:
    """One stage of one case: median seconds of its runs, rows, driver peaks."""

    rows: int = 0
    runs_seconds: list[float] = field(default_factory=list)
    cpu_seconds: float = 0.0
    peaks: DriverPeaks = field(default_factory=DriverPeaks)
    loads: list[float] = field(default_factory=list)  # 1-minute load average per run

    def as_json(self, prefix: str) -> dict[str, Any]:
        seconds = statistics.median(self.runs_seconds)
        return {
            f"{prefix}_seconds": round(seconds, 3),
            f"{prefix}_runs_seconds": [round(s, 3) for s in self.runs_seconds],
            f"{prefix}_files_per_s": round(self.rows / max(seconds, 1e-9), 1),
            f"{prefix}_ms_per_file": round(seconds * 1000 / max(self.rows, 1), 4),
            f"{prefix}_cpu_ms_per_file": round(self.cpu_seconds * 1000 / max(self.rows, 1), 4),
            f"{prefix}_python_driver_peak_rss_mb": round(self.peaks.python_bytes / 2**20, 1),
            f"{prefix}_jvm_peak_rss_mb": round(self.peaks.jvm_bytes / 2**20, 1),
            f"{prefix}_load_1min": self.loads,
        }


def _jvm_pid() -> int | None:
    pids = pipeline.jvm_pids()
    return next(iter(pids)) if pids else None


def _catalog_once(spark: SparkSession, drop: Path, lake: Path, cost: StageCost) -> None:
    drop_id = drop.parent.name  # "nested" / "flat": a valid drop id
    cost.loads.append(load_average()[0])
    with measure() as m, driver_peaks(_jvm_pid()) as peaks:
        commit = api.write_table(
            api.catalog(spark, str(drop), drop_id=drop_id),
            str(lake),
            "object_catalog",
            drop_ids=[drop_id],
        )
    cost.rows = commit.rows
    cost.runs_seconds.append(m.seconds)
    cost.cpu_seconds = m.cpu_seconds  # of the last run
    cost.peaks.python_bytes = max(cost.peaks.python_bytes, peaks.python_bytes)
    cost.peaks.jvm_bytes = max(cost.peaks.jvm_bytes, peaks.jvm_bytes)


def _metadata_once(spark: SparkSession, drop_id: str, lake: Path, rows: int) -> StageCost:
    cost = StageCost(loads=[load_average()[0]])
    with measure() as m, driver_peaks(_jvm_pid()) as peaks:
        catalog = api.read_table(spark, str(lake), "object_catalog", drop_ids=[drop_id])
        commit = api.write_table(
            api.metadata_rows(catalog, num_files=rows), str(lake), "metadata", drop_ids=[drop_id]
        )
    cost.rows, cost.runs_seconds, cost.cpu_seconds, cost.peaks = (
        commit.rows,
        [m.seconds],
        m.cpu_seconds,
        peaks,
    )
    return cost


def run_scale(
    sizes: Sequence[int],
    workdir: Path,
    *,
    repeats: int = 3,
    metadata: bool = True,
    per_folder: int = PER_FOLDER,
) -> dict[str, Any]:
    """Measure every size in both layouts; returns the ``scale`` section of the result.

    The catalog runs ``repeats`` times per case, the layouts taking turns so that a
    change in the machine's load hits both; each N's files are deleted once measured."""
    spark = pipeline.start_spark()
    warm = build_drops(workdir / "warmup", WARMUP_FILES, per_folder=per_folder)
    for layout in LAYOUTS:
        _catalog_once(spark, warm.drops[layout], workdir / "warmup" / f"lake-{layout}", StageCost())
    shutil.rmtree(workdir / "warmup", ignore_errors=True)

    cases: list[dict[str, Any]] = []
    for n in sorted(sizes):
        root = workdir / f"n{n}"
        drops = build_drops(root, n, per_folder=per_folder)
        costs = {layout: StageCost() for layout in LAYOUTS}
        for rep in range(repeats):
            for layout in LAYOUTS if rep % 2 == 0 else LAYOUTS[::-1]:
                lake = root / f"lake-{layout}-{rep}"
                _catalog_once(spark, drops.drops[layout], lake, costs[layout])
                if rep < repeats - 1:
                    shutil.rmtree(lake, ignore_errors=True)
        for layout in LAYOUTS:
            case: dict[str, Any] = {
                "files": n,
                "layout": layout,
                "mb": round(drops.total_bytes / 1e6, 1),
                **costs[layout].as_json("catalog"),
            }
            if metadata:
                lake = root / f"lake-{layout}-{repeats - 1}"
                case |= _metadata_once(spark, layout, lake, costs[layout].rows).as_json("metadata")
            cases.append(case)
            print(_line(case), flush=True)
        shutil.rmtree(root, ignore_errors=True)
    return summarize(cases, per_folder=per_folder)


def summarize(cases: Sequence[dict[str, Any]], *, per_folder: int = PER_FOLDER) -> dict[str, Any]:
    """``flat_vs_nested`` (catalog files/s, flat over nested) per N and at the largest
    N, and the growth of catalog cost per file from the smallest N to the largest."""
    by = {(c["files"], c["layout"]): c for c in cases}
    sizes = sorted({c["files"] for c in cases})
    rate, cost = "catalog_files_per_s", "catalog_ms_per_file"
    ratios = {
        str(n): round(by[n, "flat"][rate] / by[n, "nested"][rate], 3)
        for n in sizes
        if (n, "flat") in by and (n, "nested") in by
    }
    growth = {
        layout: round(by[sizes[-1], layout][cost] / by[sizes[0], layout][cost], 3)
        for layout in LAYOUTS
        if (sizes[-1], layout) in by and (sizes[0], layout) in by
    }
    return {
        "flat_vs_nested": ratios.get(str(sizes[-1])) if sizes else None,
        "flat_vs_nested_by_files": ratios,
        "catalog_ms_per_file_growth": growth,  # largest N over smallest N, per layout
        "per_folder": per_folder,
        "cases": list(cases),
    }


def _line(case: dict[str, Any]) -> str:
    meta = (
        f", metadata {case['metadata_files_per_s']:>8} files/s"
        if "metadata_files_per_s" in case
        else ""
    )
    return (
        f"scale {case['files']:>7} {case['layout']:<6} catalog {case['catalog_files_per_s']:>8} "
        f"files/s{meta}; driver peak RSS python {case['catalog_python_driver_peak_rss_mb']} MB, "
        f"JVM {case['catalog_jvm_peak_rss_mb']} MB; load {case['catalog_load_1min']}"
    )


def print_scale(scale: dict[str, Any]) -> None:
    """The per-N, per-layout table and the ratio."""
    for case in scale["cases"]:
        print(_line(case))
    print(f"flat vs nested (catalog files/s, largest N): {scale['flat_vs_nested']}")
