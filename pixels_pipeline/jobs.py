"""Jobs over the assets; in one process so one Spark session serves a whole run, with
independent steps at the same time (``executor.threaded_in_process_executor``)."""

from dagster import AssetSelection, define_asset_job

from pixels_pipeline.executor import threaded_in_process_executor
from pixels_pipeline.partitions import drops_partitions

INGEST_ASSETS = ("object_catalog", "metadata", "thumbnails", "patches", "series", "studies")

ingest_job = define_asset_job(
    "ingest",
    selection=AssetSelection.assets(*INGEST_ASSETS),
    partitions_def=drops_partitions,
    executor_def=threaded_in_process_executor,
    description="Catalog a drop, extract headers, render thumbnails, cut patches, and bring "
    "the gold series and studies tables up to date.",
)
