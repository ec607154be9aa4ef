"""The scaling benchmark's drops: the same files in both layouts, not shared inodes."""

from __future__ import annotations

from pathlib import Path

import pydicom

from pixels_pipeline.bench.scale import build_drops, summarize


def test_both_layouts_hold_the_same_distinct_files(tmp_path: Path) -> None:
    drops = build_drops(tmp_path, 30, per_folder=10)
    nested = sorted(p for p in drops.drops["nested"].rglob("*.dcm"))
    flat = sorted(drops.drops["flat"].glob("*.dcm"))
    assert len(nested) == len(flat) == 30
    assert sorted({p.parent.name for p in nested}) == ["0000", "0001", "0002"]
    assert not any(p.is_dir() for p in drops.drops["flat"].iterdir())
    uids = set()
    for a, b in zip(nested, flat, strict=True):
        assert a.name == b.name and a.read_bytes() == b.read_bytes()
        assert a.stat().st_ino != b.stat().st_ino  # copies, not hard links
        uids.add(pydicom.dcmread(a, stop_before_pixels=True).SOPInstanceUID)
    assert len(uids) == 30  # fresh UIDs
    assert drops.total_bytes == sum(p.stat().st_size for p in flat)
    assert (drops.drops["flat"] / "_SUCCESS").exists()


def test_flat_vs_nested_is_taken_at_the_largest_size() -> None:
    def case(n: int, layout: str, per_s: float) -> dict[str, object]:
        return {
            "files": n,
            "layout": layout,
            "catalog_files_per_s": per_s,
            "catalog_ms_per_file": 1000 / per_s,
        }

    scale = summarize(
        [
            case(10, "nested", 100),
            case(10, "flat", 50),
            case(100, "nested", 200),
            case(100, "flat", 180),
        ]
    )
    assert scale["flat_vs_nested"] == 0.9
    assert scale["flat_vs_nested_by_files"] == {"10": 0.5, "100": 0.9}
    assert scale["catalog_ms_per_file_growth"] == {"nested": 0.5, "flat": 0.278}
