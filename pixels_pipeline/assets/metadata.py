"""Silver ``metadata``: the full DICOM header of every cataloged file, or a typed error."""

from collections import Counter

import pyarrow as pa
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Config,
    MaterializeResult,
    MetadataValue,
)
from pydantic import Field
from pyspark.sql import DataFrame

from pixels_pipeline import api
from pixels_pipeline.assets.object_catalog import object_catalog
from pixels_pipeline.assets.reporting import materialization_metadata, run_silver_stage
from pixels_pipeline.partitions import drop_asset
from pixels_pipeline.resources import LakeResource, SparkResource

TABLE = "metadata"
ROWS_MATCH_CATALOG = "rows_match_catalog"
ERROR_RATE = "error_rate"
DUPLICATE_SOP_INSTANCE_UIDS = "duplicate_sop_instance_uids"


class MetadataConfig(Config):  # type: ignore[misc]
    max_error_rate: float = Field(
        default=0.25, description="error_rate check fails above this share of error rows"
    )


@drop_asset(
    deps=[object_catalog],
    group_name="silver",
    description="Full DICOM header (DICOM JSON) and typed columns of every cataloged file.",
    check_specs=[
        AssetCheckSpec(ROWS_MATCH_CATALOG, asset=TABLE, description="one row per catalog row"),
        AssetCheckSpec(ERROR_RATE, asset=TABLE, description="error rows at most max_error_rate"),
        AssetCheckSpec(
            DUPLICATE_SOP_INSTANCE_UIDS, asset=TABLE, description="SOP Instance UIDs seen twice"
        ),
    ],
)
def metadata(
    context: AssetExecutionContext,
    config: MetadataConfig,
    spark: SparkResource,
    lake: LakeResource,
) -> MaterializeResult:  # type: ignore[type-arg]
    run = run_silver_stage(
        context,
        spark,
        lake,
        TABLE,
        lambda catalog, n, options: api.metadata_rows(catalog, options=options, num_files=n),
    )
    rows, errors, catalog_rows = run.rows, run.errors, run.catalog_rows
    duplicates = duplicate_uids(run.written, run.driver_rows(["sop_instance_uid"]))
    context.log.info(
        f"metadata: {rows} rows, {sum(errors.values())} errors, {rows / run.seconds:.1f} files/s"
    )
    error_rate = sum(errors.values()) / rows if rows else 0.0
    return MaterializeResult(
        metadata=materialization_metadata(
            drop_ids=run.drop_ids,
            files=rows,
            update=run.update,
            version=run.version,
            errors=errors,
            seconds=run.seconds,
            extra={"table_uri": MetadataValue.path(api.table_uri(lake.lake_uri(), TABLE))},
        ),
        check_results=[
            AssetCheckResult(
                check_name=ROWS_MATCH_CATALOG,
                passed=rows == catalog_rows,
                metadata={"metadata_rows": rows, "catalog_rows": catalog_rows},
            ),
            AssetCheckResult(
                check_name=ERROR_RATE,
                passed=error_rate <= config.max_error_rate,
                metadata={
                    "error_rate": round(error_rate, 4),
                    "max_error_rate": config.max_error_rate,
                    "errors_by_type": MetadataValue.json(errors),
                },
            ),
            AssetCheckResult(
                check_name=DUPLICATE_SOP_INSTANCE_UIDS,
                passed=not duplicates,
                severity=AssetCheckSeverity.WARN,
                metadata={
                    "duplicate_uids": len(duplicates),
                    "examples": MetadataValue.json(duplicates[:10]),
                },
            ),
        ],
    )


def duplicate_uids(df: DataFrame, small: pa.Table | None = None) -> list[str]:
    """SOP Instance UIDs that occur in more than one row (``small``: the rows' UIDs read
    on the driver, counted without a Spark job)."""
    if small is not None:
        counted = Counter(u for u in small.column("sop_instance_uid").to_pylist() if u is not None)
        return sorted(u for u, n in counted.items() if n > 1)
    dups = (
        df.where("sop_instance_uid IS NOT NULL")
        .groupBy("sop_instance_uid")
        .count()
        .where("count > 1")
        .orderBy("sop_instance_uid")
        .collect()
    )
    return [r["sop_instance_uid"] for r in dups]
