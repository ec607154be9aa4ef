"""Wall time, CPU time and peak memory of a stage, over this process and all its children.

Why /proc: a Spark stage burns CPU in the JVM (a child of this process) and in the
Python workers (children of the JVM), which are alive during the stage, so
``resource.getrusage(RUSAGE_CHILDREN)`` (waited-for children only) misses them. Summing
``utime + stime + cutime + cstime`` over the live process tree counts both the live and
the finished descendants. Peak RSS is the largest tree-wide sum seen by a sampling
thread. Without /proc (not Linux) it falls back to ``getrusage`` of self + children.
"""

from __future__ import annotations

import os
import resource
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

_PROC = Path("/proc")
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
SAMPLE_SECONDS = 0.1


@dataclass
class Measurement:
    """What one stage cost; filled in when its ``measure()`` block ends."""

    seconds: float = 0.0
    cpu_seconds: float = 0.0
    peak_rss_bytes: int = 0
    extra: dict[str, object] = field(default_factory=dict)


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name may contain spaces: fields start after its closing ')'.
    return text[text.rindex(")") + 2 :].split()


def _tree(root: int, exclude: frozenset[int] = frozenset()) -> list[list[str]]:
    """``/proc/<pid>/stat`` fields of ``root`` and every live descendant, without the
    subtrees of ``exclude``."""
    stats: dict[int, list[str]] = {}
    for entry in _PROC.iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                stats[int(entry.name)] = fields
    children: dict[int, list[int]] = {}
    for pid, fields in stats.items():
        children.setdefault(int(fields[1]), []).append(pid)  # field 4: ppid
    out: list[list[str]] = []
    todo = [root]
    while todo:
        pid = todo.pop()
        if pid in stats and pid not in exclude:
            out.append(stats[pid])
            todo.extend(children.get(pid, []))
    return out


def tree_cpu_seconds(root: int | None = None, exclude: frozenset[int] = frozenset()) -> float:
    """CPU seconds used so far by ``root`` (default: this process) and its descendants."""
    if not _PROC.is_dir():
        usage = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
        return sum(u.ru_utime + u.ru_stime for u in usage)
    # fields (0-based after the name): 11 utime, 12 stime, 13 cutime, 14 cstime
    tree = _tree(root or os.getpid(), exclude)
    ticks = sum(sum(int(f[i]) for i in (11, 12, 13, 14)) for f in tree)
    return ticks / _TICKS


def tree_rss_bytes(root: int | None = None, exclude: frozenset[int] = frozenset()) -> int:
    """Resident memory of ``root`` and its descendants now."""
    if not _PROC.is_dir():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tree = _tree(root or os.getpid(), exclude)
    return sum(int(f[21]) for f in tree) * _PAGE  # field 24: rss pages


@contextmanager
def measure(exclude: frozenset[int] = frozenset()) -> Iterator[Measurement]:
    """Measure the block: wall seconds, tree CPU seconds, peak tree RSS.

    ``exclude``: processes (with their subtrees) that belong to the other side, e.g. the
    idle baseline pool while Spark runs, or the idle JVM while the pool runs.
    """
    result = Measurement()
    stop = threading.Event()
    peak = [tree_rss_bytes(exclude=exclude)]

    def sample() -> None:
        while not stop.wait(SAMPLE_SECONDS):
            peak[0] = max(peak[0], tree_rss_bytes(exclude=exclude))

    sampler = threading.Thread(target=sample, name="bench-rss", daemon=True)
    cpu0, t0 = tree_cpu_seconds(exclude=exclude), time.perf_counter()
    sampler.start()
    try:
        yield result
    finally:
        result.seconds = time.perf_counter() - t0
        stop.set()
        sampler.join()
        result.cpu_seconds = tree_cpu_seconds(exclude=exclude) - cpu0
        result.peak_rss_bytes = max(peak[0], tree_rss_bytes(exclude=exclude))
