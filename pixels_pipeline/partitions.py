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

drops_partitions = DynamicPartitionsDefinition(name="drops")


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
    )
