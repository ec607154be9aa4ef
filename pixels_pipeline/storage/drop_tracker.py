"""Which drops to (re)ingest: the landing sensor's logic as a plain function.

Each tick costs one non-recursive listing of the landing zone plus ``_SUCCESS`` look-ups
for new folders, for folders whose modification time changed (local filesystems), and
for a bounded round-robin window of known drops (re-touched markers; object stores have
no folder times). It never lists the contents of old drops, so its cost does not grow
with their files, and its look-ups are bounded by ``recheck_per_tick``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pixels_pipeline.storage.landing import (
    Folder,
    is_valid_drop_id,
    list_folders,
    marker_mtimes,
)
from pixels_pipeline.storage.uri import StorageOptions

CURSOR_VERSION = 1


@dataclass(frozen=True)
class DropRun:
    """A drop to (re)ingest, with a run key unique to this state of the drop."""

    drop_id: str
    run_key: str
    is_new: bool


@dataclass(frozen=True)
class TickPlan:
    runs: tuple[DropRun, ...]
    incomplete: tuple[str, ...]  # new folders without _SUCCESS yet
    rejected: tuple[str, ...]  # folder names that are not valid drop ids
    cursor: str
    markers_checked: int


def plan_tick(
    landing_uri: str,
    cursor: str | None,
    *,
    options: StorageOptions | None = None,
    recheck_per_tick: int = 200,
) -> TickPlan:
    """Compare the landing zone with the cursor; return runs to request and the new cursor."""
    state, offset = _decode(cursor)
    folders = {f.name: f for f in list_folders(landing_uri, options=options)}
    rejected = tuple(n for n in folders if n not in state and not is_valid_drop_id(n))
    new = [n for n in folders if n not in state and is_valid_drop_id(n)]
    known = sorted(n for n in state if n in folders)
    moved = [n for n in known if _folder_changed(state[n], folders[n])]
    window = known[offset : offset + recheck_per_tick]
    if len(window) < recheck_per_tick:
        window += known[: min(offset, recheck_per_tick - len(window))]
    next_offset = (offset + recheck_per_tick) % len(known) if known else 0
    to_check = list(dict.fromkeys([*new, *moved, *window]))
    markers = marker_mtimes(landing_uri, to_check, options=options)
    runs: list[DropRun] = []
    for name in to_check:
        marker = markers[name]
        if marker is None:
            continue  # still being copied (or re-copied): wait for its _SUCCESS
        folder_us = folders[name].mtime_us
        seen = state.get(name)
        if seen is not None and seen == [marker, folder_us]:
            continue
        state[name] = [marker, folder_us]
        runs.append(DropRun(name, f"{name}:{marker}:{folder_us}", is_new=seen is None))
    for gone in [n for n in state if n not in folders]:
        del state[gone]
    incomplete = tuple(n for n in new if markers[n] is None)
    return TickPlan(tuple(runs), incomplete, rejected, _encode(state, next_offset), len(to_check))


def _folder_changed(seen: list[int | None], folder: Folder) -> bool:
    return folder.mtime_us is not None and seen[1] != folder.mtime_us


def _decode(cursor: str | None) -> tuple[dict[str, list[int | None]], int]:
    if not cursor:
        return {}, 0
    data = json.loads(cursor)
    if not isinstance(data, dict) or data.get("v") != CURSOR_VERSION:
        raise ValueError("unknown landing sensor cursor format; reset the sensor cursor")
    return {k: list(v) for k, v in data["drops"].items()}, int(data.get("next", 0))


def _encode(state: dict[str, list[int | None]], offset: int) -> str:
    return json.dumps(
        {"v": CURSOR_VERSION, "next": offset, "drops": dict(sorted(state.items()))},
        separators=(",", ":"),
    )


def ingested_drops(cursor: str | None) -> list[str]:
    """The drop ids the cursor knows."""
    return sorted(_decode(cursor)[0])
