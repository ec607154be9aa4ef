"""Guard for calls that a regression would block forever (a FIFO read, a walk of
gigabytes of zeros): the test fails after a timeout instead of hanging the suite."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")


def bounded(fn: Callable[[], T], *, fifos: tuple[Path, ...] = (), timeout: float = 60.0) -> T:
    """Run ``fn`` in a daemon thread and return its result; if it is still running after
    ``timeout`` seconds, release readers blocked on ``fifos`` and fail the test."""
    out: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            out.append(fn())
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        for fifo in fifos:  # a writer that opens and closes gives a blocked reader EOF
            with contextlib.suppress(OSError):
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail(f"still running after {timeout} s (blocked on a FIFO, or walking junk?)")
    if errors:
        raise errors[0]
    return out[0]
