"""What the gold assets share: one update of a UID-keyed table from metadata's changes."""

from __future__ import annotations

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue

from pixels_pipeline import api
from pixels_pipeline.assets.reporting import timed_stage
from pixels_pipeline.resources import LakeResource, SparkResource


def materialize_gold(
    context: AssetExecutionContext,
    spark: SparkResource,
    lake: LakeResource,
    table: api.GoldTable,
) -> MaterializeResult:  # type: ignore[type-arg]
    """Bring ``table`` up to date with ``metadata`` (all drops: the partition keys only
    say which run triggered it) and report what the MERGE did."""
    session, lake_uri, options = spark.get_session(), lake.lake_uri(), lake.storage_options()
    with timed_stage(context, session, table) as timer:
        update = api.update_gold_table(session, lake_uri, table, options=options)
    api.register_tables(session, lake_uri, tables=[table], options=options)
    commit = update.commit
    context.log.info(
        f"{table}: {update.mode} update, {update.touched} UIDs recomputed, {update.rows} rows, "
        f"metadata version {update.source_version}"
    )
    return MaterializeResult(
        metadata={
            "drops": MetadataValue.text(", ".join(context.partition_keys)),
            "mode": MetadataValue.text(update.mode),
            "uids_recomputed": MetadataValue.int(update.touched),
            "rows": MetadataValue.int(update.rows),
            "rows_inserted": MetadataValue.int(commit.rows if commit else 0),
            "rows_deleted": MetadataValue.int(commit.rows_deleted if commit else 0),
            "metadata_version": MetadataValue.int(update.source_version),
            "table_version": MetadataValue.int(api.table_version(lake_uri, table, options=options)),
            "committed": MetadataValue.bool(commit is not None and not commit.skipped),
            "duration_s": MetadataValue.float(round(timer.seconds, 3)),
            "table_uri": MetadataValue.path(api.table_uri(lake_uri, table)),
        }
    )
