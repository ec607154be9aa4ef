"""What every table asset records: counts, errors by type, version, duration, files/s."""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue
from pyspark.sql import DataFrame, SparkSession

from pixels_pipeline import api
from pixels_pipeline.api import StorageOptions, TableUpdate
from pixels_pipeline.resources import LakeResource, SparkResource
from pixels_pipeline.spark.progress import report_progress
from pixels_pipeline.spark.snapshot_prefetch import PREFETCH_ORDER

ERROR_READ_MAX_ROWS = 500_000


def app_id(context: AssetExecutionContext, table: str, drop_ids: Sequence[str]) -> str:
    """Idempotency token of one table write in one run: a retried step commits once."""
    digest = hashlib.sha256(",".join(sorted(drop_ids)).encode()).hexdigest()[:16]
    return f"pixels_pipeline:{table}:{context.run_id}:{digest}"


def run_session(
    context: AssetExecutionContext, spark: SparkResource, lake: LakeResource
) -> tuple[SparkSession, str, StorageOptions]:
    """The run's session, lake URI and storage options. The first step to ask starts
    loading the snapshots of every table the run writes (``spark.snapshot_prefetch``)."""
    session, lake_uri, options = spark.get_session(), lake.lake_uri(), lake.storage_options()
    selected = {key.path[-1] for key in context.job_def.asset_layer.selected_asset_keys}
    tables = [t for t in PREFETCH_ORDER if t in selected]
    spark.prefetch_tables([api.table_uri(lake_uri, t) for t in tables], options)
    return session, lake_uri, options


def errors_by_type(df: DataFrame, small: pa.Table | None = None) -> dict[str, int]:
    """Rows per ``error_type`` (successes excluded) of a table's rows; ``small``: the same
    rows' ``error_type`` column read on the driver, counted without a Spark job."""
    if small is not None:
        counted = Counter(e for e in small.column("error_type").to_pylist() if e is not None)
        return dict(sorted(counted.items()))
    counts = df.where("error_type IS NOT NULL").groupBy("error_type").count().collect()
    return {r["error_type"]: int(r["count"]) for r in sorted(counts, key=lambda r: r[0])}


@dataclass
class StageTimer:
    started: float = field(default_factory=time.perf_counter)

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started


@contextmanager
def timed_stage(
    context: AssetExecutionContext, spark: SparkSession, label: str
) -> Iterator[StageTimer]:
    """Time a stage and log Spark progress to the run log while it runs."""
    timer = StageTimer()
    with report_progress(spark, context.log.info, label=label):
        yield timer


def materialization_metadata(
    *,
    drop_ids: Sequence[str],
    files: int,
    update: TableUpdate,
    version: int,
    errors: dict[str, int],
    seconds: float,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Files, rows written, errors by type, table version, duration and files/s."""
    commit = update.commit
    return {
        "drops": MetadataValue.text(", ".join(drop_ids)),
        "files": MetadataValue.int(files),
        "files_processed": MetadataValue.int(update.processed),
        "rows_kept": MetadataValue.int(update.kept),
        "rows_removed": MetadataValue.int(update.removed),
        "rows_written": MetadataValue.int(commit.rows if commit else 0),
        "data_files": MetadataValue.int(commit.files if commit else 0),
        "errors": MetadataValue.int(sum(errors.values())),
        "errors_by_type": MetadataValue.json(errors),
        "table_version": MetadataValue.int(version),
        "committed": MetadataValue.bool(commit is not None and not commit.skipped),
        "operation": MetadataValue.text(commit.operation if commit else "none"),
        "duration_s": MetadataValue.float(round(seconds, 3)),
        "files_per_s": MetadataValue.float(
            round(update.processed / seconds, 2) if seconds > 0 else 0.0
        ),
        **(extra or {}),
    }


@dataclass(frozen=True)
class StageRun:
    """What one silver table materialization did."""

    drop_ids: list[str]
    catalog_rows: int  # files in the catalog for these drops (from the Delta log)
    rows: int  # rows now in the table for these drops (from the Delta log)
    update: TableUpdate
    version: int  # table version after the update
    written: DataFrame  # the table's rows for these drops, as committed
    errors: dict[str, int]
    seconds: float
    lake_uri: str
    table: str
    options: StorageOptions

    def driver_rows(self, columns: Sequence[str]) -> pa.Table | None:
        """``columns`` of the written rows read on the driver when they are few (no
        Spark job), else None (use ``written``)."""
        return api.small_table_rows(
            self.lake_uri, self.table, self.drop_ids, columns, options=self.options
        )


def run_silver_stage(
    context: AssetExecutionContext,
    spark: SparkResource,
    lake: LakeResource,
    table: str,
    build: Callable[[DataFrame, int, StorageOptions], api.Rows],
) -> StageRun:
    """Update the drops' partitions of ``table`` from their catalog rows:
    ``build(catalog_rows, n_files, storage_options)`` runs on added or changed files only,
    in one idempotent commit (none if nothing changed)."""
    drop_ids = api.check_drop_ids(context.partition_keys)  # before anything is written
    session, lake_uri, options = run_session(context, spark, lake)
    catalog_rows = sum(
        api.count_rows(lake_uri, "object_catalog", drop_ids, options=options).values()
    )
    with timed_stage(context, session, table) as timer:
        update = api.update_table(
            session,
            lake_uri,
            table,
            lambda catalog, n: build(catalog, n, options),
            drop_ids=drop_ids,
            options=options,
            app_id=app_id(context, table, drop_ids),
        )
    api.register_tables(session, lake_uri, tables=[table], options=options)
    rows = sum(api.count_rows(lake_uri, table, drop_ids, options=options).values())
    written = api.read_table(session, lake_uri, table, drop_ids=drop_ids, options=options)
    # one short, mostly null column: read on the driver up to far more rows than wide reads
    small = api.small_table_rows(
        lake_uri, table, drop_ids, ["error_type"], options=options, max_rows=ERROR_READ_MAX_ROWS
    )
    errors = errors_by_type(written, small)
    version = api.table_version(lake_uri, table, options=options)
    return StageRun(
        drop_ids,
        catalog_rows,
        rows,
        update,
        version,
        written,
        errors,
        timer.seconds,
        lake_uri,
        table,
        options,
    )


def run_gold_stage(
    context: AssetExecutionContext,
    spark: SparkResource,
    lake: LakeResource,
    table: api.GoldTable,
) -> MaterializeResult:  # type: ignore[type-arg]
    """Bring ``table`` up to date with ``metadata`` (all drops: the partition keys only
    say which run triggered it) and report what the MERGE did."""
    drop_ids = api.check_drop_ids(context.partition_keys)  # a bad key fails before any write
    session, lake_uri, options = run_session(context, spark, lake)
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
            "drops": MetadataValue.text(", ".join(drop_ids)),
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
