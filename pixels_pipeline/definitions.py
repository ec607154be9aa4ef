"""The one ``Definitions`` of the project."""

from dagster import Definitions, EnvVar

from pixels_pipeline.assets.metadata import metadata
from pixels_pipeline.assets.object_catalog import object_catalog
from pixels_pipeline.assets.patches import patches
from pixels_pipeline.assets.series import series
from pixels_pipeline.assets.studies import studies
from pixels_pipeline.assets.thumbnails import thumbnails
from pixels_pipeline.executor import threaded_in_process_executor
from pixels_pipeline.jobs import ingest_job
from pixels_pipeline.maintenance import maintenance_job, maintenance_schedule
from pixels_pipeline.resources import LakeResource, SparkResource
from pixels_pipeline.sensors import landing_sensor

defs = Definitions(
    assets=[object_catalog, metadata, thumbnails, patches, series, studies],
    jobs=[ingest_job, maintenance_job],
    schedules=[maintenance_schedule],
    sensors=[landing_sensor],
    resources={
        "spark": SparkResource(),
        "lake": LakeResource(landing=EnvVar("PIXELS_LANDING"), lake=EnvVar("PIXELS_LAKE")),
    },
    executor=threaded_in_process_executor,
)
