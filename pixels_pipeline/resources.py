"""Dagster resources: the Spark session and the lake/landing locations."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

from dagster import Config, ConfigurableResource, InitResourceContext
from dagster_pyspark import LazyPySparkResource
from dagster_spark.utils import flatten_dict
from pydantic import Field, PrivateAttr
from pyspark.sql import SparkSession

from pixels_pipeline.exit_status import keep_exit_status
from pixels_pipeline.spark.session import SparkSettings, get_spark
from pixels_pipeline.spark.snapshot_prefetch import prefetch_snapshots
from pixels_pipeline.storage.aws_env import anonymous_from_env, with_env_defaults
from pixels_pipeline.storage.landing import check_drop_id
from pixels_pipeline.storage.uri import StorageOptions, join_uri, normalize_uri

# Optional: read when a run starts its session (not at import), so that pointing the
# pipeline at a cluster is configuration only. spark.* settings for the cluster go to
# $SPARK_CONF_DIR/spark-defaults.conf, which Spark reads itself.
SPARK_MASTER_VARIABLE = "PIXELS_SPARK_MASTER"

# Steps of a run may start at the same time (threads of the run's executor): the first
# one to need the session starts it, the others wait for it.
_SESSION_START = threading.Lock()


class SparkResource(LazyPySparkResource):  # type: ignore[misc]
    """dagster-pyspark's lazy session resource, started with Delta Lake: one session per
    run (shared by its steps, which may run at once), none for runs that need none.

    Why a subclass: its ``spark_session_from_config`` feeds every setting to
    ``SparkSession.builder.config`` and cannot serve a Spark Connect master (``sc://``:
    static settings such as ``spark.jars`` belong to the server), and the Delta jars are
    located when the session starts (``PIXELS_SPARK_JARS``), not when definitions load.
    """

    spark_config: dict[str, Any] = Field(
        default_factory=dict, description="extra spark.* settings (nested dicts are flattened)"
    )
    master: str | None = Field(
        default=None,
        description="local[*], spark://host:7077, sc://host:15002, k8s://https://host:443; "
        "unset: $PIXELS_SPARK_MASTER at run time, else local[*]",
    )
    stop_at_teardown: bool = Field(
        default=True, description="stop the session when the run ends (off to share it in tests)"
    )

    _prefetched: set[str] = PrivateAttr(default_factory=set)

    def _init_session(self) -> None:
        with _SESSION_START:
            self._start_session()

    def _start_session(self) -> None:
        if self._spark_session is None:
            master = self.master or os.environ.get(SPARK_MASTER_VARIABLE) or "local[*]"
            flat = flatten_dict(self.spark_config)  # type: ignore[no-untyped-call]
            conf = {key: str(value) for key, value in flat}
            self._spark_session = get_spark(SparkSettings(master=master, conf=conf))
            self._prefetched = set()
            keep_exit_status()  # the run's process now holds the JVM, pyarrow, deltalake

    def get_session(self) -> SparkSession:
        """Start the session on first use."""
        session: SparkSession = self.spark_session
        return session

    def prefetch_tables(self, uris: Sequence[str], options: StorageOptions | None) -> None:
        """Start loading the Delta snapshots of ``uris`` in the background (see
        ``spark.snapshot_prefetch``), each once per session, in the order given."""
        session = self.get_session()
        with _SESSION_START:
            todo = [uri for uri in uris if uri not in self._prefetched]
            self._prefetched.update(todo)
        if todo:
            prefetch_snapshots(session, todo, options)

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if self._spark_session is not None and self.stop_at_teardown:
            self._spark_session.stop()
            self._spark_session = None


class ObjectStoreConfig(Config):  # type: ignore[misc]
    """S3 settings of the lake resource; every unset field falls back, at run time, to the
    standard ``AWS_*`` variable of the run's process (see ``storage.aws_env``).

    Dagster's ``EnvVar`` fails a run when its variable is unset, so optional settings are
    left unset here rather than bound to ``EnvVar``; a deployment that wants Dagster to
    require and mask them sets e.g. ``access_key_id=EnvVar("AWS_ACCESS_KEY_ID")``.
    """

    endpoint_url: str | None = Field(default=None, description="else AWS_ENDPOINT_URL(_S3)")
    region: str | None = Field(default=None, description="else AWS_REGION/AWS_DEFAULT_REGION")
    access_key_id: str | None = Field(default=None, repr=False, description="else AWS_*")
    secret_access_key: str | None = Field(default=None, repr=False, description="else AWS_*")
    session_token: str | None = Field(default=None, repr=False, description="else AWS_*")
    anonymous: bool | None = Field(
        default=None, description="unsigned requests (public buckets); else AWS_SKIP_SIGNATURE"
    )
    max_attempts: int = Field(default=5, description="tries per S3 request (pyarrow, delta-rs)")
    retry_timeout_s: float = Field(default=60.0, description="delta-rs retry budget per request")


class LakeResource(ConfigurableResource):  # type: ignore[misc,type-arg]
    """Where drops land and where tables live (local paths or ``s3://`` URIs)."""

    landing: str = Field(description="landing zone URI: its direct sub-folders are drops")
    lake: str = Field(description="lake URI: each table lives at <lake>/<table>")
    object_store: ObjectStoreConfig = Field(
        default_factory=ObjectStoreConfig, description="S3 endpoint, credentials, retries"
    )

    def storage_options(self) -> StorageOptions:
        """Settings for pyarrow and delta-rs: this config first, then ``AWS_*`` (read now,
        at run time, on the driver; Spark tasks receive the resolved settings)."""
        cfg = self.object_store
        explicit = StorageOptions(
            endpoint_url=cfg.endpoint_url,
            region=cfg.region,
            access_key_id=cfg.access_key_id,
            secret_access_key=cfg.secret_access_key,
            session_token=cfg.session_token,
            anonymous=cfg.anonymous
            if cfg.anonymous is not None
            else anonymous_from_env(os.environ),
            max_attempts=cfg.max_attempts,
            retry_timeout_s=cfg.retry_timeout_s,
        )
        return with_env_defaults(explicit, os.environ)

    def landing_uri(self) -> str:
        return normalize_uri(self.landing)

    def lake_uri(self) -> str:
        return normalize_uri(self.lake)

    def drop_uri(self, drop_id: str) -> str:
        return join_uri(self.landing_uri(), check_drop_id(drop_id))
