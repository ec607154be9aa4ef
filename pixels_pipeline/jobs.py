"""Jobs over the assets; in-process so one Spark session serves a whole run."""

from dagster import AssetSelection, define_asset_job, in_process_executor

from pixels_pipeline.partitions import drops_partitions

INGEST_ASSETS = ("object_catalog", "metadata", "thumbnails", "patches", "series", "studies")

ingest_job = define_asset_job(
    "ingest",
    selection=AssetSelection.assets(*INGEST_ASSETS),
    partitions_def=drops_partitions,
    executor_def=in_process_executor,
    description="Catalog a drop, extract headers, render thumbnails, cut patches, and bring "
    "the gold series and studies tables up to date.",
)
