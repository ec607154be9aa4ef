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

# Every table-writing step takes a slot of its table's pool (``pixels_lake_writes/<table>``)
# and dagster.yaml limits each pool to 1: across runs, the steps writing one table commit one
# at a time, because Delta's S3 log store is safe for one writer (JVM) per table only (its
# multi-driver DynamoDB log store is not on Maven Central). Within a run, the steps share
# one JVM, whose log store orders commits to the same table, and different tables are
# different logs: steps of different tables run at the same time, in one run or across
# runs.
LAKE_WRITE_POOL = "pixels_lake_writes"


def lake_write_pool(table: str) -> str:
    """The concurrency pool of the steps that write ``table``."""
    return f"{LAKE_WRITE_POOL}/{table}"


def drop_asset(
    *,
    group_name: str,
    description: str,
    deps: Sequence[AssetsDefinition] = (),
    check_specs: Sequence[AssetCheckSpec] = (),
) -> Callable[[Callable[..., Any]], AssetsDefinition]:
    """``@asset`` for a table partitioned by drop (the table is named like the asset): a
    backfill of many drops is one run (one Spark session, one commit per table), computed
    by Spark into Delta. The step takes a slot of the table's pool (:func:`lake_write_pool`)."""

    def decorate(fn: Callable[..., Any]) -> AssetsDefinition:
        return asset(
            partitions_def=drops_partitions,
            backfill_policy=BackfillPolicy.single_run(),
            group_name=group_name,
            kinds={"spark", "delta"},
            description=description,
            deps=list(deps),
            check_specs=list(check_specs),
            pool=lake_write_pool(fn.__name__),
        )(fn)

    return decorate
