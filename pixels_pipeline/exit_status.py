"""Keep a successful process successful through interpreter teardown.

Processes that loaded Spark, pyarrow and deltalake sometimes abort *after* their work is
done and their exit status is decided: native threads torn down by C++ static
destructors end in ``terminate called without an active exception`` (SIGABRT, exit code
134). A run that succeeded then looks failed to its caller.

:func:`keep_exit_status` records the status passed to ``sys.exit`` (the Dagster CLI,
click and our own entry points all leave through it) and, when the interpreter's own
exit handlers reach this one and the status is success, flushes the standard streams and
logging and leaves with ``os._exit(0)``, skipping only the native teardown. A failure
status, an uncaught exception or a plain ``raise SystemExit(n)`` leave the normal way,
unchanged.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
import threading
from typing import Any, NoReturn

__all__ = ["keep_exit_status"]

_lock = threading.Lock()
_installed = False
_status: list[object] = []  # the last status given to sys.exit, if it was called


def keep_exit_status() -> None:
    """Install the guard once per process (idempotent, cheap; call where native libraries
    are started, e.g. with the Spark session)."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
        original = sys.exit

        def recording_exit(status: Any = None) -> NoReturn:
            _status[:] = [status]
            original(status)

        sys.exit = recording_exit
        # atexit runs the latest registered first: handlers registered from now on run
        # before this one; those of libraries loaded earlier (their native teardown) not.
        atexit.register(_leave_if_succeeded)


def _succeeded() -> bool:
    if not _status or getattr(sys, "last_value", None) is not None:
        return False
    status = _status[0]
    return status is None or status == 0


def _leave_if_succeeded() -> None:
    if not _succeeded() or threading.current_thread() is not threading.main_thread():
        return
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # closed or broken: nothing to say
            stream.flush()
    os._exit(0)
