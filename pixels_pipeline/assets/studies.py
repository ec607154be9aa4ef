"""Gold ``studies``: one row per study, ready for analysis."""

from dagster import AssetExecutionContext, MaterializeResult

from pixels_pipeline.assets.metadata import metadata
from pixels_pipeline.assets.reporting import run_gold_stage
from pixels_pipeline.partitions import drop_asset
from pixels_pipeline.resources import LakeResource, SparkResource


@drop_asset(
    deps=[metadata],
    group_name="gold",
    description=(
        "One row per Study Instance UID over all drops: patient, date, modalities, "
        "series and instance counts, bytes."
    ),
)
def studies(
    context: AssetExecutionContext, spark: SparkResource, lake: LakeResource
) -> MaterializeResult:  # type: ignore[type-arg]
    return run_gold_stage(context, spark, lake, "studies")
