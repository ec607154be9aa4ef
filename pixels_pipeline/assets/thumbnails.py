"""Silver ``thumbnails``: a correctly rendered PNG of every image instance.

Each materialization also writes a contact sheet and a static HTML gallery per drop to
``<lake>/_gallery/<drop_id>/`` (part of the lake: thumbnails captioned by row id, modality
and SOP Instance UID, never by file name) and, unless ``ui_preview`` is off, shows a
contact sheet in the Dagster UI. Pixels can carry burned-in PHI: the UI preview puts them
in Dagster's event log, which is why it can be turned off.
"""

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    Config,
    MaterializeResult,
    MetadataValue,
)
from pydantic import Field

from pixels_pipeline import api
from pixels_pipeline.assets.galleries import pick_columns, update_galleries
from pixels_pipeline.assets.object_catalog import object_catalog
from pixels_pipeline.assets.reporting import materialization_metadata, run_silver_stage
from pixels_pipeline.gallery import preview_markdown
from pixels_pipeline.partitions import drop_asset
from pixels_pipeline.resources import LakeResource, SparkResource

TABLE = "thumbnails"
DECODE_ERROR_RATE = "decode_error_rate"
# Not rendering errors: the file simply has no image (SR, RT plan...) or is not DICOM.
_NOT_IMAGES = ("no_pixel_data", "not_dicom")


class ThumbnailsConfig(Config):  # type: ignore[misc]
    max_size: int = Field(default=256, description="longest side of a thumbnail in pixels")
    max_error_rate: float = Field(
        default=0.1, description="decode_error_rate check fails above this share of images"
    )
    max_frame_mb: int = Field(
        default=2048, description="files declaring a larger frame are image_too_large rows"
    )
    max_image_mb: int = Field(
        default=64 * 1024, description="files declaring more pixels are image_too_large rows"
    )
    ui_preview: bool = Field(
        default=True,
        description="show a contact sheet of the first thumbnails in the run's metadata "
        "(stored in Dagster's event log; images can carry burned-in PHI: turn off where "
        "the Dagster instance is shared more widely than the lake)",
    )


@drop_asset(
    deps=[object_catalog],
    group_name="silver",
    description="PNG thumbnail of the middle frame of every image, rendered for display.",
    check_specs=[
        AssetCheckSpec(DECODE_ERROR_RATE, asset=TABLE, description="images that failed to render")
    ],
)
def thumbnails(
    context: AssetExecutionContext,
    config: ThumbnailsConfig,
    spark: SparkResource,
    lake: LakeResource,
) -> MaterializeResult:  # type: ignore[type-arg]
    options = lake.storage_options()
    run = run_silver_stage(
        context,
        spark,
        lake,
        TABLE,
        lambda catalog, n, opts: api.thumbnail_rows(
            catalog,
            options=opts,
            max_size=config.max_size,
            num_files=n,
            budget=api.PixelBudget(config.max_frame_mb << 20, config.max_image_mb << 20),
        ),
    )
    failed = sum(n for t, n in run.errors.items() if t not in _NOT_IMAGES)
    images = run.rows - sum(run.errors.get(t, 0) for t in _NOT_IMAGES)
    rate = failed / images if images else 0.0
    galleries = update_galleries(
        lake.lake_uri(), run.drop_ids, run.written, run.driver_rows(pick_columns()), options
    )
    extra: dict[str, object] = {
        "images": MetadataValue.int(images),
        "rendered": MetadataValue.int(images - failed),
        "galleries": MetadataValue.json(galleries.pages),
        "galleries_rebuilt": MetadataValue.int(len(galleries.rebuilt)),
    }
    if galleries.preview and config.ui_preview:
        extra["preview"] = MetadataValue.md(preview_markdown(galleries.preview))
    context.log.info(f"thumbnails: {images - failed}/{images} images rendered")
    return MaterializeResult(
        metadata=materialization_metadata(
            drop_ids=run.drop_ids,
            files=run.rows,
            update=run.update,
            version=run.version,
            errors=run.errors,
            seconds=run.seconds,
            extra=extra,
        ),
        check_results=[
            AssetCheckResult(
                check_name=DECODE_ERROR_RATE,
                passed=rate <= config.max_error_rate,
                metadata={"rate": round(rate, 4), "failed": failed, "images": images},
            )
        ],
    )
