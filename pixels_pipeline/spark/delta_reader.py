"""Reading tables: Spark's Delta reader for data, delta-rs for the log alone.

``spark.read.format("delta")`` gives partition pruning, data skipping and time travel.
Questions the log answers by itself (does the table exist, its version, rows per drop
from the file statistics) are read by delta-rs on the driver: no Spark job, a few
milliseconds (measured in the closing note of the delta-spark change).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable as LogReader
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.functions import col

from pixels_pipeline.spark.delta_tables import table_exists
from pixels_pipeline.spark.object_store import spark_path, use_object_store
from pixels_pipeline.spark.schemas import PARTITION_COLUMN, spark_schema
from pixels_pipeline.storage.uri import StorageOptions, filesystem_for, join_uri

__all__ = [
    "commits_touching",
    "partition_row_counts",
    "read_table_uri",
    "table_uri",
    "table_version_of",
]


def _log(uri: str, options: StorageOptions | None) -> LogReader | None:
    if not table_exists(uri, options):
        return None
    return LogReader(uri, storage_options=(options or StorageOptions()).delta_options())


def table_version_of(table_uri: str, options: StorageOptions | None = None) -> int:
    """The table's current version (-1 before its first commit)."""
    log = _log(table_uri, options)
    return log.version() if log is not None else -1


def commits_touching(
    table_uri: str,
    drop_ids: Sequence[str],
    since: int,
    options: StorageOptions | None = None,
    *,
    until: int | None = None,
) -> list[int]:
    """Versions after ``since`` (up to ``until``, default the current one) whose commit
    added or removed data files of ``drop_ids`` (read from the commit files of the Delta
    log; a commit file that is gone counts as touching, to be safe)."""
    current = table_version_of(table_uri, options) if until is None else until
    if current <= since:
        return []
    fs, root = filesystem_for(join_uri(table_uri, "_delta_log"), options)
    wanted = set(drop_ids)
    touched = []
    for version in range(since + 1, current + 1):
        try:
            with fs.open_input_stream(f"{root}/{version:020d}.json") as fh:
                lines = fh.read().decode("utf-8").splitlines()
        except (FileNotFoundError, OSError):
            touched.append(version)
            continue
        for line in lines:
            action = json.loads(line) if line.strip() else {}
            change = action.get("add") or action.get("remove")
            if change and (change.get("partitionValues") or {}).get(PARTITION_COLUMN) in wanted:
                touched.append(version)
                break
    return touched


def partition_row_counts(
    table_uri: str, drop_ids: Sequence[str], options: StorageOptions | None = None
) -> dict[str, int]:
    """Rows per partition from the Delta log's file statistics (no data read)."""
    counts = dict.fromkeys(drop_ids, 0)
    log = _log(table_uri, options)
    if log is None:
        return counts
    actions = log.get_add_actions(flatten=True)
    data = actions if isinstance(actions, pa.Table) else pa.table(actions)
    parts = data.column(f"partition.{PARTITION_COLUMN}").to_pylist()
    rows = data.column("num_records").to_pylist()
    for drop_id, n in zip(parts, rows, strict=True):
        if drop_id in counts:
            counts[drop_id] += int(n or 0)
    return counts


def read_table_uri(
    spark: SparkSession,
    table_uri: str,
    schema: pa.Schema,
    *,
    drop_ids: Sequence[str] | None = None,
    options: StorageOptions | None = None,
    version: int | None = None,
) -> DataFrame:
    """The table (optionally some drops, optionally at an older ``version``)."""
    if not table_exists(table_uri, options):
        return spark.createDataFrame([], spark_schema(schema))
    use_object_store(spark, options)
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    df = reader.load(spark_path(table_uri))
    if drop_ids is not None:
        df = df.where(col(PARTITION_COLUMN).isin(list(drop_ids)))
    return df.select(*schema.names)


def table_uri(lake_uri: str, table: str) -> str:
    """``<lake>/<table>``: where a table lives."""
    return join_uri(lake_uri, table)


# Partitions this small are read on the driver (delta-rs + pyarrow) for questions whose
# Spark job would cost more than the answer: "did anything change?", errors by type.
DRIVER_READ_MAX_ROWS = 20_000


def small_partitions(
    table_uri: str,
    drop_ids: Sequence[str],
    columns: Sequence[str],
    options: StorageOptions | None = None,
    *,
    version: int | None = None,
    max_rows: int = DRIVER_READ_MAX_ROWS,
    row_filter: pc.Expression | None = None,
) -> pa.Table | None:
    """``columns`` of the drops' rows (those ``row_filter`` keeps, if given), read on the
    driver, or None when the table is missing or the drops hold more than ``max_rows``
    rows (per the log's statistics)."""
    if not table_exists(table_uri, options):
        return None
    log = LogReader(
        table_uri,
        version=version,
        storage_options=(options or StorageOptions()).delta_options(),
    )
    actions = log.get_add_actions(flatten=True)
    data = actions if isinstance(actions, pa.Table) else pa.table(actions)
    wanted = set(drop_ids)
    parts = data.column(f"partition.{PARTITION_COLUMN}").to_pylist()
    records = data.column("num_records").to_pylist()
    held = [n for drop_id, n in zip(parts, records, strict=True) if drop_id in wanted]
    if any(n is None for n in held) or sum(held) > max_rows:
        return None
    dataset = log.to_pyarrow_dataset(partitions=[(PARTITION_COLUMN, "in", list(drop_ids))])
    table = dataset.to_table(columns=list(columns))
    # Filtered after the read, not by the dataset: delta-rs makes each file's statistics
    # a guarantee, and a file whose log has no min/max for a string column (the lakes of
    # the pipeline's first writer) gets "col >= null", which drops it from any filter.
    return table if row_filter is None else table.filter(row_filter)


def read_partitions(
    spark: SparkSession,
    table_uri: str,
    schema: pa.Schema,
    drop_ids: Sequence[str],
    options: StorageOptions | None = None,
    *,
    max_rows: int = DRIVER_READ_MAX_ROWS,
) -> tuple[DataFrame, pa.Table | None]:
    """The drops' rows of a table, and the same rows on the driver when they were read
    there (else None). When they are few (at most ``max_rows``) they are read on the
    driver and handed to Spark as local data: a Delta scan would first run Spark jobs of
    its own (the snapshot's state, the files to read), which for a small drop cost more
    than the rows. Larger drops are read by a Delta scan."""
    rows = small_partitions(table_uri, drop_ids, schema.names, options, max_rows=max_rows)
    if rows is None:
        return read_table_uri(spark, table_uri, schema, drop_ids=drop_ids, options=options), None
    local = rows.select(schema.names).cast(schema)
    return local_frame(spark, local, schema), local


def local_frame(spark: SparkSession, rows: pa.Table, schema: pa.Schema) -> DataFrame:
    """``rows`` (of ``schema``) as a DataFrame of local data."""
    if rows.num_rows == 0:  # pyspark cannot convert a table of no chunks
        return spark.createDataFrame([], spark_schema(schema))
    local = rows.select(schema.names).cast(schema).combine_chunks()
    return spark.createDataFrame(local, spark_schema(schema))
