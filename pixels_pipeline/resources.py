"""Dagster resources: the Spark session and the lake/landing locations."""

from __future__ import annotations

from dagster import ConfigurableResource, InitResourceContext
from pydantic import Field, PrivateAttr
from pyspark.sql import SparkSession

from pixels_pipeline.spark.session import SparkSettings, get_spark
from pixels_pipeline.storage.uri import StorageOptions, join_uri, normalize_uri


class SparkResource(ConfigurableResource):  # type: ignore[misc,type-arg]
    """One Spark session per run (the in-process executor shares it across steps)."""

    master: str = Field(default="local[*]", description="local[*], spark://host:7077, ...")
    conf: dict[str, str] = Field(default_factory=dict, description="extra spark.* settings")
    stop_at_teardown: bool = Field(
        default=True, description="stop the session when the run ends (off to share it in tests)"
    )
    _session: SparkSession | None = PrivateAttr(default=None)

    def get_session(self) -> SparkSession:
        """Start the session on first use, so runs that need no Spark start no JVM."""
        if self._session is None:
            self._session = get_spark(SparkSettings(master=self.master, conf=self.conf))
        return self._session

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if self._session is not None and self.stop_at_teardown:
            self._session.stop()
            self._session = None


class LakeResource(ConfigurableResource):  # type: ignore[misc,type-arg]
    """Where drops land and where tables live (local paths or ``s3://`` URIs)."""

    landing: str = Field(description="landing zone URI: its direct sub-folders are drops")
    lake: str = Field(description="lake URI: each table lives at <lake>/<table>")

    def storage_options(self) -> StorageOptions:
        return StorageOptions()

    def landing_uri(self) -> str:
        return normalize_uri(self.landing)

    def lake_uri(self) -> str:
        return normalize_uri(self.lake)

    def drop_uri(self, drop_id: str) -> str:
        return join_uri(self.landing_uri(), drop_id)
