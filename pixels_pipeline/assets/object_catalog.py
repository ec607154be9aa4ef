"""Bronze ``object_catalog``: one row per file of each drop, DICOM or not."""

from dagster import (
    AssetExecutionContext,
    Config,
    MaterializeResult,
    MetadataValue,
)
from pydantic import Field

from pixels_pipeline import api
from pixels_pipeline.assets.reporting import (
    app_id,
    errors_by_type,
    materialization_metadata,
    run_session,
    timed_stage,
)
from pixels_pipeline.partitions import drop_asset
from pixels_pipeline.resources import LakeResource, SparkResource

TABLE = "object_catalog"


class ObjectCatalogConfig(Config):  # type: ignore[misc]
    hash_content: bool = Field(
        default=False,
        description="add a sha256 of each file to its fingerprint (reads every byte)",
    )
    zip_max_total_mb: int = Field(
        default=8192, description="zip archives uncompressing to more are archive_error rows"
    )
    zip_max_ratio: float = Field(
        default=200.0, description="zip members compressed more than this are archive_error rows"
    )


@drop_asset(
    group_name="bronze",
    description="Every file of each drop: path, size, times, fingerprint, and whether it is DICOM.",
)
def object_catalog(
    context: AssetExecutionContext,
    config: ObjectCatalogConfig,
    spark: SparkResource,
    lake: LakeResource,
) -> MaterializeResult:  # type: ignore[type-arg]
    drop_ids = api.check_drop_ids(context.partition_keys)  # before anything is listed
    session, lake_uri, options = run_session(context, spark, lake)
    drops = [api.Drop(d, lake.drop_uri(d), None) for d in drop_ids]
    with timed_stage(context, session, TABLE) as timer:
        update = api.update_catalog(
            session,
            lake_uri,
            drops,
            options=options,
            hash_content=config.hash_content,
            archive_limits=api.ArchiveLimits(
                max_total_bytes=config.zip_max_total_mb * 1024 * 1024,
                max_ratio=config.zip_max_ratio,
            ),
            app_id=app_id(context, TABLE, drop_ids),
        )
    api.register_tables(session, lake_uri, tables=[TABLE], options=options)
    written = api.read_table(session, lake_uri, TABLE, drop_ids=drop_ids, options=options)
    small = api.small_table_rows(
        lake_uri, TABLE, drop_ids, ["is_dicom", "error_type"], options=options
    )
    dicom = (
        written.where("is_dicom").count()
        if small is None
        else sum(1 for v in small.column("is_dicom").to_pylist() if v)
    )
    files = sum(api.count_rows(lake_uri, TABLE, drop_ids, options=options).values())
    context.log.info(
        f"cataloged {files} files ({dicom} DICOM; {update.processed} new or changed, "
        f"{update.removed} gone) in {timer.seconds:.1f} s"
    )
    return MaterializeResult(
        metadata=materialization_metadata(
            drop_ids=drop_ids,
            files=files,
            update=update,
            version=api.table_version(lake_uri, TABLE, options=options),
            errors=errors_by_type(written, small),
            seconds=timer.seconds,
            extra={
                "dicom_files": MetadataValue.int(dicom),
                "table_uri": MetadataValue.path(api.table_uri(lake_uri, TABLE)),
            },
        )
    )
