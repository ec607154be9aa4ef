"""A run's session starts its Python workers with the task modules already imported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

CHILD = Path(__file__).with_name("warmup_child.py")


@pytest.mark.spark
def test_the_resource_warms_the_workers_the_next_tasks_use() -> None:
    """In a fresh process and JVM: the first tasks' workers lack the task modules; after
    the resource's warm-up, every task of the next job runs on a worker that has them."""
    done = subprocess.run(
        [sys.executable, str(CHILD)], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["warmups"] == 1
    assert len(result["before"]) == 2 and not any(r["ready"] for r in result["before"])
    assert len(result["after"]) == 2 and all(r["ready"] for r in result["after"])
