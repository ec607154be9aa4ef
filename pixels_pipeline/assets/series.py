"""Gold ``series``: one row per series, ready for cohort selection."""

from dagster import AssetExecutionContext, MaterializeResult

from pixels_pipeline.assets.metadata import metadata
from pixels_pipeline.assets.reporting import run_gold_stage
from pixels_pipeline.partitions import drop_asset
from pixels_pipeline.resources import LakeResource, SparkResource


@drop_asset(
    deps=[metadata],
    group_name="gold",
    description=(
        "One row per Series Instance UID over all drops: counts, sizes, and geometry "
        "from Image Position/Orientation (Patient) with is_regular_volume."
    ),
)
def series(
    context: AssetExecutionContext, spark: SparkResource, lake: LakeResource
) -> MaterializeResult:  # type: ignore[type-arg]
    return run_gold_stage(context, spark, lake, "series")
