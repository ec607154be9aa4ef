"""Session settings that hold for one statement only (Delta's transaction ids for
``MERGE``, VACUUM's switches).

Steps of one run share its session and may run at the same time, in threads (the run's
executor), and a session setting is seen by every thread: a setting and the statement it
is meant for hold one lock, so no other statement runs under them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from pyspark.sql import SparkSession

_LOCK = threading.RLock()


@contextmanager
def scoped_confs(spark: SparkSession, confs: Mapping[str, str]) -> Iterator[None]:
    """Run the block with ``confs`` set on ``spark``, then unset them; statements of
    other threads that need settings wait (none is taken when ``confs`` is empty)."""
    if not confs:
        yield
        return
    with _LOCK:
        for key, value in confs.items():
            spark.conf.set(key, value)
        try:
            yield
        finally:
            for key in confs:
                spark.conf.unset(key)
