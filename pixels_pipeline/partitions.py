"""Partitions: one dynamic partition per drop in the landing zone."""

from collections.abc import Callable, Sequence
from typing import Any

from dagster import (
    AssetCheckSpec,
    AssetsDefinition,
    BackfillPolicy,
    DynamicPartitionsDefinition,
    asset,
)

DROPS = "drops"  # the dynamic partitions: one per drop
drops_partitions = DynamicPartitionsDefinition(name=DROPS)

# Every table-writing step takes a slot of this pool. dagster.yaml limits it to 1, so
# steps of concurrent runs commit one at a time: Delta's S3 log store is safe for one
# writer at a time only (its multi-driver DynamoDB log store is not on Maven Central).
LAKE_WRITE_POOL = "pixels_lake_writes"


def drop_asset(
    *,
    group_name: str,
    description: str,
    deps: Sequence[AssetsDefinition] = (),
    check_specs: Sequence[AssetCheckSpec] = (),
) -> Callable[[Callable[..., Any]], AssetsDefinition]:
    """``@asset`` for a table partitioned by drop: a backfill of many drops is one run
    (one Spark session, one commit per table), computed by Spark into Delta."""
    return asset(
        partitions_def=drops_partitions,
        backfill_policy=BackfillPolicy.single_run(),
        group_name=group_name,
        kinds={"spark", "delta"},
        description=description,
        deps=list(deps),
        check_specs=list(check_specs),
        pool=LAKE_WRITE_POOL,
    )
