"""Turn stage measurements into the result JSON and a printed table."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from typing import Any

from pixels_pipeline.bench.measure import Measurement


@dataclass(frozen=True)
class Side:
    """One side (pipeline or baseline) of one stage."""

    measurement: Measurement
    files: int
    errors: int
    cpu_seconds: float | None = None  # overrides the measured tree CPU when known exactly


def _side(prefix: str, side: Side, total_bytes: int) -> dict[str, Any]:
    m = side.measurement
    cpu = side.cpu_seconds if side.cpu_seconds is not None else m.cpu_seconds
    seconds = max(m.seconds, 1e-9)
    return {
        f"{prefix}_seconds": round(m.seconds, 3),
        f"{prefix}_files_per_s": round(side.files / seconds, 2),
        f"{prefix}_mb_per_s": round(total_bytes / 1e6 / seconds, 2),
        f"{prefix}_cpu_ms_per_file": round(cpu * 1000 / max(side.files, 1), 3),
        f"{prefix}_peak_rss_mb": round(m.peak_rss_bytes / 2**20, 1),
        f"{prefix}_files": side.files,
        f"{prefix}_errors": side.errors,
    }


def stage_result(pipeline: Side, baseline: Side, total_bytes: int) -> dict[str, Any]:
    """The JSON of one stage; ``ratio`` is pipeline files/s over baseline files/s."""
    out = {**_side("pipeline", pipeline, total_bytes), **_side("baseline", baseline, total_bytes)}
    out["ratio"] = round(out["pipeline_files_per_s"] / max(out["baseline_files_per_s"], 1e-9), 3)
    if pipeline.measurement.extra:
        out["pipeline_details"] = pipeline.measurement.extra
    if baseline.measurement.extra:
        out["baseline_details"] = baseline.measurement.extra
    return out


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages (other work on the machine skews the numbers)."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return [round(x, 2) for x in load]


def machine(load_before: list[float]) -> dict[str, Any]:
    """What the numbers were measured on, load before and after included."""
    mem = 0
    if hasattr(os, "sysconf"):
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {
        "cpus": os.cpu_count(),
        "memory_gb": round(mem / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_before": load_before,
        "load_average": load_average(),
    }


def print_table(result: dict[str, Any]) -> None:
    """A human summary of the result JSON."""
    print(f"\n{result['files']} files, {result['corpus_mb']} MB, machine {result['machine']}")
    head = f"{'stage':12s} {'side':9s} {'files/s':>9s} {'MB/s':>8s} {'CPU ms/f':>9s} {'RSS MB':>8s}"
    print(head)
    for name, stage in result["stages"].items():
        for side in ("pipeline", "baseline"):
            print(
                f"{name:12s} {side:9s} {stage[f'{side}_files_per_s']:9.1f} "
                f"{stage[f'{side}_mb_per_s']:8.1f} {stage[f'{side}_cpu_ms_per_file']:9.2f} "
                f"{stage[f'{side}_peak_rss_mb']:8.0f}"
            )
        print(f"{name:12s} ratio pipeline/baseline = {stage['ratio']:.2f}")
