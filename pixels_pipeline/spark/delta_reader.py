"""The one Delta reader: Spark DataFrames from the Delta log's active files.

Never read a table folder as plain Parquet: it also holds removed and orphaned files.
Local tables use Spark's Parquet reader over the active file list with an explicit schema;
object-store tables are read by pyarrow inside Spark tasks (the JVM has no s3a here).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable
from pyspark.sql import DataFrame, SparkSession

from pixels_pipeline.spark.schemas import PARTITION_COLUMN, spark_schema
from pixels_pipeline.spark.session import default_parallelism
from pixels_pipeline.storage.uri import StorageOptions, filesystem_for, join_uri, scheme_of


def open_table(table_uri: str, options: StorageOptions | None = None) -> DeltaTable | None:
    """The table, or None if nothing was committed there yet."""
    storage = (options or StorageOptions()).delta_options()
    if not DeltaTable.is_deltatable(table_uri, storage_options=storage):
        return None
    return DeltaTable(table_uri, storage_options=storage)


def active_files(
    table: DeltaTable, drop_ids: Sequence[str] | None = None
) -> list[tuple[str, str, int]]:
    """``(relative path, drop_id, num_records)`` of the table's active files."""
    actions = table.get_add_actions(flatten=True)
    data = pa.table(actions) if not isinstance(actions, pa.Table) else actions
    paths = data.column("path").to_pylist()
    parts = data.column(f"partition.{PARTITION_COLUMN}").to_pylist()
    counts = data.column("num_records").to_pylist()
    wanted = set(drop_ids) if drop_ids is not None else None
    return [
        (p, d, int(n or 0))
        for p, d, n in zip(paths, parts, counts, strict=True)
        if wanted is None or d in wanted
    ]


def partition_row_counts(
    table_uri: str, drop_ids: Sequence[str], options: StorageOptions | None = None
) -> dict[str, int]:
    """Rows per partition from the Delta log's file statistics (no data read)."""
    counts = dict.fromkeys(drop_ids, 0)
    table = open_table(table_uri, options)
    if table is None:
        return counts
    for _, drop_id, n in active_files(table, drop_ids):
        counts[drop_id] += n
    return counts


def read_table_uri(
    spark: SparkSession,
    table_uri: str,
    schema: pa.Schema,
    *,
    drop_ids: Sequence[str] | None = None,
    options: StorageOptions | None = None,
) -> DataFrame:
    """The current version of a table (optionally some partitions) as a DataFrame."""
    table = open_table(table_uri, options)
    files = active_files(table, drop_ids) if table is not None else []
    sschema = spark_schema(schema)
    if not files:
        return spark.createDataFrame([], sschema)
    if scheme_of(table_uri) == "file":
        root = filesystem_for(table_uri)[1]
        reader = spark.read.schema(sschema).option("basePath", root)
        return reader.parquet(*[f"{root}/{p}" for p, _, _ in files]).select(*schema.names)
    listing = spark.createDataFrame(
        [(p, d) for p, d, _ in files], "path string, drop_id string"
    ).repartition(min(len(files), default_parallelism(spark) * 4))
    return listing.mapInArrow(
        _RemoteReader(table_uri, schema, options or StorageOptions()), sschema
    )


@dataclass(frozen=True)
class _RemoteReader:
    """Runs in Spark tasks: reads the listed data files with pyarrow."""

    table_uri: str
    schema: pa.Schema
    options: StorageOptions

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        fs, root = filesystem_for(self.table_uri, self.options)
        for batch in batches:
            for rel, drop_id in zip(
                batch.column("path").to_pylist(), batch.column("drop_id").to_pylist(), strict=True
            ):
                with fs.open_input_file(f"{root}/{rel}") as fh:
                    data = pq.read_table(fh)
                data = data.append_column(
                    PARTITION_COLUMN, pa.array([drop_id] * data.num_rows, pa.string())
                )
                yield from (
                    data.select(self.schema.names).cast(self.schema).to_batches(max_chunksize=256)
                )


def table_uri(lake_uri: str, table: str) -> str:
    """``<lake>/<table>``: where a table lives."""
    return join_uri(lake_uri, table)
