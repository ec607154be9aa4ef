"""Session settings that hold for one statement only (Delta's transaction ids for
``MERGE``, VACUUM's switches).

Steps of one run share its session and may run at the same time, in threads (the run's
executor), and a session setting is seen by every thread. So the statement runs in a
clone of the session (its settings and temporary views copied, the same SparkContext)
that carries the settings; no other statement sees them. A Spark Connect session is
not cloned (the client's clone is a developer API that opens a new channel): there a
setting and its statement hold one lock, and such statements run one at a time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from pyspark.sql import SparkSession

from pixels_pipeline.spark.session import is_connect_session

_LOCK = threading.RLock()


@contextmanager
def scoped_confs(spark: SparkSession, confs: Mapping[str, str]) -> Iterator[SparkSession]:
    """A session with ``confs`` set for the block, for the block's statements only:
    ``spark`` itself when ``confs`` is empty."""
    if not confs:
        yield spark
        return
    if not is_connect_session(spark):
        clone = SparkSession(spark.sparkContext, spark._jsparkSession.cloneSession())
        for key, value in confs.items():
            clone.conf.set(key, value)
        yield clone
        return
    with _LOCK:
        for key, value in confs.items():
            spark.conf.set(key, value)
        try:
            yield spark
        finally:
            for key in confs:
                spark.conf.unset(key)
