"""Silver ``patches``: fixed-size tiles of image frames, ready for deep learning."""

from dagster import (
    AssetExecutionContext,
    Config,
    MaterializeResult,
    MetadataValue,
)
from pydantic import Field

from pixels_pipeline import api
from pixels_pipeline.assets.object_catalog import object_catalog
from pixels_pipeline.assets.reporting import materialization_metadata, run_silver_stage
from pixels_pipeline.partitions import drop_asset
from pixels_pipeline.resources import LakeResource, SparkResource

TABLE = "patches"


class PatchesConfig(Config):  # type: ignore[misc]
    size: int = Field(default=256, description="tile width and height in pixels")
    stride: int | None = Field(default=None, description="step between tiles (default: size)")
    frames: list[int] | None = Field(default=None, description="frame indices (default: all)")
    min_foreground: float = Field(
        default=0.05, description="drop tiles with a smaller share of foreground pixels"
    )
    max_frame_mb: int = Field(
        default=2048, description="files declaring a larger frame are image_too_large rows"
    )
    max_image_mb: int = Field(
        default=64 * 1024, description="files declaring more pixels are image_too_large rows"
    )


@drop_asset(
    deps=[object_catalog],
    group_name="silver",
    description="Tiles of every frame (PNG for 8-bit, raw little-endian otherwise).",
)
def patches(
    context: AssetExecutionContext,
    config: PatchesConfig,
    spark: SparkResource,
    lake: LakeResource,
) -> MaterializeResult:  # type: ignore[type-arg]
    settings = api.PatchSettings(
        size=config.size,
        stride=config.stride,
        frames=tuple(config.frames) if config.frames is not None else None,
        min_foreground=config.min_foreground,
        budget=api.PixelBudget(config.max_frame_mb << 20, config.max_image_mb << 20),
    )
    run = run_silver_stage(
        context,
        spark,
        lake,
        TABLE,
        lambda catalog, n, options: api.patch_rows(
            catalog, options=options, settings=settings, num_files=n
        ),
    )
    tiles = run.rows - sum(run.errors.values())
    context.log.info(f"patches: {tiles} tiles, {sum(run.errors.values())} files without tiles")
    return MaterializeResult(
        metadata=materialization_metadata(
            drop_ids=run.drop_ids,
            files=run.catalog_rows,
            update=run.update,
            version=run.version,
            errors=run.errors,
            seconds=run.seconds,
            extra={
                "tiles": MetadataValue.int(tiles),
                "tile_size": MetadataValue.int(config.size),
                "min_foreground": MetadataValue.float(config.min_foreground),
            },
        )
    )
