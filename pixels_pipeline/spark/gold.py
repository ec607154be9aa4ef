"""Gold tables ``series`` and ``studies``: one row per UID across all drops.

Each update reads ``metadata``'s Change Data Feed from the version the gold table last
consumed up to the current one, collects the UIDs those changes touched (inserted,
deleted or updated rows, before and after images alike), recomputes those UIDs from
the current ``metadata`` rows of every drop, and ``MERGE``s them: changed rows are
replaced, new ones inserted, UIDs without rows left deleted.

The consumed metadata version is the table's Delta app transaction
(``pixels_pipeline:<table><-metadata``, ``txnVersion`` = metadata version), committed in
the same commit as the data (a ``MERGE``, or for UIDs known on the driver an overwrite
``replaceWhere`` the UID is among them, which rewrites the same files without a join):
a crash before the commit leaves the old version (the next update reads the same window
again), and a retry after it finds nothing to do.

Full recompute (every UID of ``metadata`` and of the gold table): the first update, and
when the window cannot be read (older files vacuumed, Change Data Feed off at the time).

Rows are built by the pure :mod:`pixels_pipeline.dicom.gold_rows`, in one of two places:
on the driver when the inputs are small (read with delta-rs, see
:mod:`pixels_pipeline.spark.gold_driver`: no Spark scan, which for a few UIDs costs more
than the rows), else in Spark tasks over the instances shuffled by key. Either way one
commit replaces the touched UIDs' rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, Literal

import pyarrow as pa
from deltalake import DeltaTable as LogReader
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as fn

from pixels_pipeline.dicom.gold_rows import BUILDERS, instance_fields
from pixels_pipeline.spark.delta_reader import read_table_uri, table_uri, table_version_of
from pixels_pipeline.spark.delta_tables import table_exists
from pixels_pipeline.spark.delta_writer import (
    REPLACE_MAX_KEYS,
    CommitResult,
    merge_by_key,
    replace_keys,
    transaction_version,
)
from pixels_pipeline.spark.gold_driver import (
    DRIVER_MAX_ROWS,
    INSTANCE_COLUMNS,
    changed_keys,
    held_keys,
    instance_inputs,
)
from pixels_pipeline.spark.maintenance import changes
from pixels_pipeline.spark.schemas import (
    GOLD_KEYS,
    METADATA,
    OBJECT_CATALOG,
    PARTITION_COLUMN,
    TABLES,
    spark_schema,
)
from pixels_pipeline.storage.uri import StorageOptions

__all__ = [
    "SOURCE",
    "GoldRows",
    "GoldTable",
    "GoldUpdate",
    "app_id_of",
    "update_gold",
]

SOURCE = "metadata"
GoldTable = Literal["series", "studies"]


@dataclass(frozen=True)
class GoldUpdate:
    """What one update of a gold table did."""

    commit: CommitResult | None  # None: nothing to do (or no metadata yet)
    mode: Literal["none", "incremental", "full"]
    touched: int  # UIDs recomputed
    source_version: int  # metadata version the table reflects (-1: none yet)
    rows: int  # rows in the table afterwards
    on_driver: bool = False  # inputs read and rows computed on the driver (no Spark scan)


@dataclass(frozen=True)
class GoldRows:
    """Gold rows of ``table`` from instance rows (metadata columns but ``path``, with
    ``length``), with the trailer: the pure builders of :mod:`pixels_pipeline.dicom.gold_rows`
    as an Arrow table. Called on the driver, and per partition by ``mapInArrow``."""

    table: GoldTable
    version: int
    updated_at: datetime

    def table_of(self, inputs: list[dict[str, Any]]) -> pa.Table:
        rows = BUILDERS[self.table](instance_fields(r) for r in inputs)
        for row in rows:
            row["metadata_version"] = self.version
            row["updated_at"] = self.updated_at
        return pa.Table.from_pylist(rows, schema=TABLES[self.table])

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        inputs: list[dict[str, Any]] = []
        for batch in batches:  # a partition holds every row of its keys (shuffled by key)
            inputs.extend(batch.to_pylist())
        if inputs:
            yield from self.table_of(inputs).to_batches()


def _spark_rows(
    spark: SparkSession,
    lake_uri: str,
    metadata: DataFrame,
    touched: DataFrame,
    key: str,
    build: GoldRows,
    options: StorageOptions | None,
) -> DataFrame:
    """The touched UIDs' gold rows as a Spark job: the instances shuffled by key, each
    partition built by :class:`GoldRows`."""
    catalog = read_table_uri(
        spark, table_uri(lake_uri, "object_catalog"), OBJECT_CATALOG, options=options
    )
    sizes = catalog.select(PARTITION_COLUMN, "row_id", "length")
    instances = (
        metadata.join(touched, key, "left_semi")
        .select(*INSTANCE_COLUMNS)
        .join(sizes, [PARTITION_COLUMN, "row_id"], "left")
    )
    schema = spark_schema(TABLES[build.table])
    return instances.repartition(fn.col(key)).mapInArrow(build, schema)


def _touched(
    spark: SparkSession,
    source_uri: str,
    key: str,
    window: tuple[int, int],
    options: StorageOptions | None,
) -> DataFrame | None:
    """Distinct non-null ``key`` values of the metadata changes in ``window`` (versions,
    inclusive), materialized now; None when the window cannot be read."""
    try:
        changed = changes(
            spark, source_uri, starting_version=window[0], ending_version=window[1], options=options
        )
        return changed.select(key).where(fn.col(key).isNotNull()).distinct().localCheckpoint()
    except Exception:  # files vacuumed, or Change Data Feed off then: recompute everything
        return None


def _row_count(uri: str, options: StorageOptions | None) -> int:
    if not table_exists(uri, options):
        return 0
    log = LogReader(uri, storage_options=(options or StorageOptions()).delta_options())
    actions = log.get_add_actions(flatten=True)
    data = actions if isinstance(actions, pa.Table) else pa.table(actions)
    return sum(int(n or 0) for n in data.column("num_records").to_pylist())


def app_id_of(table: str) -> str:
    """The app transaction whose version is the metadata version ``table`` consumed."""
    return f"pixels_pipeline:{table}<-{SOURCE}"


@dataclass(frozen=True)
class _Plan:
    rows: DataFrame  # the touched UIDs' new rows
    touched: DataFrame  # the touched UIDs (a ``key`` column): those without rows go
    n_touched: int
    mode: Literal["incremental", "full"]
    on_driver: bool
    keys: frozenset[str] | None = None  # the touched UIDs, when known on the driver
    counts: tuple[int, int] = (0, 0)  # with keys: UIDs new to the table, UIDs that go


def _keys_frame(spark: SparkSession, key: str, keys: set[str]) -> DataFrame:
    if not keys:  # pyspark cannot convert an Arrow table of no chunks
        return spark.createDataFrame([], f"`{key}` string")
    return spark.createDataFrame(pa.table({key: pa.array(sorted(keys), pa.string())}))


def _on_driver(
    spark: SparkSession,
    lake_uri: str,
    key: str,
    consumed: int | None,
    build: GoldRows,
    options: StorageOptions | None,
    max_rows: int,
) -> _Plan | None:
    """The plan with inputs read by delta-rs and rows built on the driver, or None when
    the inputs are too big (see :mod:`pixels_pipeline.spark.gold_driver`)."""
    source_uri = table_uri(lake_uri, SOURCE)
    mode: Literal["incremental", "full"] = "incremental"
    window = None if consumed is None else (consumed + 1, build.version)
    touched = None if window is None else changed_keys(source_uri, key, window, options)
    held = held_keys(table_uri(lake_uri, build.table), key, options)
    if touched is None:
        mode = "full"
        current = held_keys(source_uri, key, options, version=build.version)
        if current is None or held is None:
            return None
        touched = current | held
    inputs = instance_inputs(lake_uri, key, touched, build.version, options, max_rows=max_rows)
    if inputs is None or held is None:
        return None
    table = build.table_of(inputs)
    schema = spark_schema(TABLES[build.table])
    rows = (
        spark.createDataFrame(table.combine_chunks(), schema)
        if table.num_rows
        else spark.createDataFrame([], schema)
    )
    built = set(table.column(key).to_pylist())
    counts = (len(built - held), len((touched & held) - built))
    keys = frozenset(touched)
    return _Plan(rows, _keys_frame(spark, key, touched), len(touched), mode, True, keys, counts)


def _on_spark(
    spark: SparkSession,
    lake_uri: str,
    key: str,
    consumed: int | None,
    build: GoldRows,
    options: StorageOptions | None,
) -> _Plan:
    """The plan as Spark jobs: the Change Data Feed's UIDs (or all), their rows built
    per partition."""
    source_uri, target_uri = table_uri(lake_uri, SOURCE), table_uri(lake_uri, build.table)
    metadata = read_table_uri(spark, source_uri, METADATA, options=options, version=build.version)
    touched = (
        None
        if consumed is None
        else _touched(spark, source_uri, key, (consumed + 1, build.version), options)
    )
    mode: Literal["incremental", "full"] = "incremental"
    if touched is None:
        mode = "full"
        held = read_table_uri(spark, target_uri, TABLES[build.table], options=options).select(key)
        touched = (
            metadata.select(key)
            .unionByName(held)
            .where(fn.col(key).isNotNull())
            .distinct()
            .localCheckpoint()
        )
    rows = _spark_rows(spark, lake_uri, metadata, touched, key, build, options).localCheckpoint()
    return _Plan(rows, touched, touched.count(), mode, False)


def update_gold(
    spark: SparkSession,
    lake_uri: str,
    table: GoldTable,
    *,
    options: StorageOptions | None = None,
    driver_max_rows: int = DRIVER_MAX_ROWS,
) -> GoldUpdate:
    """Bring ``series`` or ``studies`` in line with the current ``metadata`` in at most
    one commit: a MERGE over the UIDs touched since the last update (or all of them).
    Inputs of at most ``driver_max_rows`` metadata rows are read and built on the driver
    (0: always as Spark jobs)."""
    key = GOLD_KEYS[table]
    source_uri, target_uri = table_uri(lake_uri, SOURCE), table_uri(lake_uri, table)
    version = table_version_of(source_uri, options)
    consumed = transaction_version(target_uri, app_id_of(table), options)
    if version < 0 or (consumed is not None and consumed >= version):
        reflected = consumed if consumed is not None else -1
        return GoldUpdate(None, "none", 0, reflected, _row_count(target_uri, options))
    build = GoldRows(table, version, datetime.now(timezone.utc))
    plan = (
        _on_driver(spark, lake_uri, key, consumed, build, options, driver_max_rows)
        if driver_max_rows > 0
        else None
    ) or _on_spark(spark, lake_uri, key, consumed, build, options)
    txn = (app_id_of(table), version)
    if plan.keys is not None and len(plan.keys) <= REPLACE_MAX_KEYS:
        commit = replace_keys(
            plan.rows, plan.keys, target_uri, table, key=key, txn=txn, options=options
        )
        if not commit.skipped:  # its metrics count replaced rows as deleted and written
            commit = replace(commit, rows=plan.counts[0], rows_deleted=plan.counts[1])
    else:
        commit = merge_by_key(
            plan.rows, plan.touched, target_uri, table, key=key, txn=txn, options=options
        )
    rows = _row_count(target_uri, options)
    return GoldUpdate(commit, plan.mode, plan.n_touched, version, rows, plan.on_driver)
