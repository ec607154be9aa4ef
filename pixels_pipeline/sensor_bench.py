"""Sensor tick cost against landing-zone history: ``python -m pixels_pipeline.sensor_bench``.

Creates N drops (a _SUCCESS marker and one small file each) in a scratch landing zone,
ingests them into the cursor, adds ONE new drop, and times the real sensor's tick.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from dagster import DagsterInstance, SensorResult, build_sensor_context

from pixels_pipeline.resources import LakeResource
from pixels_pipeline.sensors import landing_sensor


def make_drops(landing: Path, start: int, count: int) -> None:
    for i in range(start, start + count):
        drop = landing / f"drop-{i:06d}"
        drop.mkdir(parents=True)
        (drop / "image.dcm").write_bytes(b"\0" * 128 + b"DICM")
        (drop / "_SUCCESS").write_text("")


def tick(
    instance: DagsterInstance, landing: Path, cursor: str | None
) -> tuple[float, SensorResult]:
    lake = LakeResource(landing=str(landing), lake=str(landing.parent / "lake"))
    context = build_sensor_context(instance=instance, cursor=cursor, resources={"lake": lake})
    start = time.perf_counter()
    result = landing_sensor(context)
    assert isinstance(result, SensorResult)
    return time.perf_counter() - start, result


def measure(n: int, repeats: int = 5) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp, DagsterInstance.ephemeral() as instance:
        landing = Path(tmp) / "landing"
        make_drops(landing, 0, n)
        first, result = tick(instance, landing, None)
        cursor = result.cursor
        idle = []
        for _ in range(repeats):
            seconds, result = tick(instance, landing, cursor)
            idle.append(seconds)
            cursor = result.cursor
        make_drops(landing, n, 1)
        new, result = tick(instance, landing, cursor)
        assert [r.partition_key for r in result.run_requests or []] == [f"drop-{n:06d}"]
        return {
            "drops": n,
            "first_tick_s": round(first, 4),
            "idle_tick_s_median": round(statistics.median(idle), 4),
            "one_new_drop_tick_s": round(new, 4),
            "cursor_kb": round(len(cursor or "") / 1024, 1),
        }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--drops", type=int, nargs="+", default=[1000, 10000])
    args = parser.parse_args(argv)
    for n in args.drops:
        print(measure(n))


if __name__ == "__main__":
    main()
