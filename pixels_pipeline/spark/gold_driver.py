"""Gold updates small enough for the driver: inputs read with delta-rs and pyarrow.

A Spark update of a few UIDs costs seconds of fixed work: Delta scans of ``metadata``,
its Change Data Feed and ``object_catalog`` each plan and run jobs before any row is read.
Here the driver reads what it needs directly, bounded in rows, and returns ``None``
whenever a bound is passed or a file cannot be read, so the Spark update decides:

- **Touched UIDs** of a window of ``metadata`` versions: the keys in the files the Change
  Data Feed would read, straight from the commits: a commit's change-data files, or for
  a commit without any (an append, or a change made while the feed was off) every row of
  the data files it added or removed. Every changed row is in such a file, so the keys
  are those that changed, or more (a rewritten file's unchanged rows); recomputing a UID
  that did not change gives the same row again.
- **Instances** of the touched UIDs: the key column of the table is scanned (at most
  :data:`SCAN_MAX_ROWS` rows), then the drops holding a touched UID are read in full
  (at most ``max_rows`` rows) and filtered in memory. The file statistics are not used to
  skip files: Delta truncates string statistics, and the exact filter is cheap.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import DeltaTable as LogReader

from pixels_pipeline.spark.delta_reader import small_partitions
from pixels_pipeline.spark.delta_tables import table_exists
from pixels_pipeline.spark.schemas import METADATA, PARTITION_COLUMN
from pixels_pipeline.storage.uri import StorageOptions, filesystem_for, join_uri

__all__ = ["DRIVER_MAX_ROWS", "SCAN_MAX_ROWS", "changed_keys", "held_keys", "instance_inputs"]

DRIVER_MAX_ROWS = 50_000  # metadata rows read in full for one driver update, at most
SCAN_MAX_ROWS = 2_000_000  # metadata rows whose key column the driver scans, at most
WINDOW_MAX_FILES = 1_000  # data files of a window of commits read for their keys, at most
INSTANCE_COLUMNS = [n for n in METADATA.names if n != "path"]


def _reader(uri: str, options: StorageOptions | None, version: int | None = None) -> LogReader:
    opts = options or StorageOptions()
    return LogReader(uri, version=version, storage_options=opts.delta_options())


def _window_files(uri: str, window: tuple[int, int], options: StorageOptions | None) -> list[str]:
    """Paths of the files holding the changes of the commits in ``window`` (inclusive),
    as the Change Data Feed reads them: a commit's change-data files when it has any,
    else the data files it added or removed (not those of a rearrangement such as
    ``OPTIMIZE``, marked ``dataChange: false``). Raises when a commit cannot be read."""
    fs, root = filesystem_for(join_uri(uri, "_delta_log"), options)
    paths: set[str] = set()
    for version in range(window[0], window[1] + 1):
        with fs.open_input_stream(f"{root}/{version:020d}.json") as fh:
            lines = fh.read().decode("utf-8").splitlines()
        actions = [json.loads(line) for line in lines if line.strip()]
        cdc = {str(a["cdc"]["path"]) for a in actions if "cdc" in a}
        data = {
            str(change["path"])
            for a in actions
            if (change := a.get("add") or a.get("remove")) and change.get("dataChange", True)
        }
        paths |= cdc or data
    return sorted(paths)


def _keys_of_file(uri: str, path: str, key: str, options: StorageOptions | None) -> set[str]:
    location = unquote(path) if "://" in path else join_uri(uri, unquote(path))
    fs, file_path = filesystem_for(location, options)
    with fs.open_input_file(file_path) as fh:
        column = pq.read_table(fh, columns=[key]).column(key)
    return {v for v in column.to_pylist() if v is not None}


def changed_keys(
    uri: str, key: str, window: tuple[int, int], options: StorageOptions | None = None
) -> set[str] | None:
    """``key`` values of every row in the files the commits of ``window`` added or
    removed; None when a commit or file is gone (vacuumed) or the window is too big."""
    try:
        files = _window_files(uri, window, options)
        if len(files) > WINDOW_MAX_FILES:
            return None
        keys: set[str] = set()
        for path in files:
            keys |= _keys_of_file(uri, path, key, options)
    except Exception:  # a commit or file is gone, or unreadable here: Spark decides
        return None
    return keys


def _row_total(log: LogReader) -> int | None:
    actions = log.get_add_actions(flatten=True)
    data = actions if isinstance(actions, pa.Table) else pa.table(actions)
    counts = data.column("num_records").to_pylist()
    return None if any(n is None for n in counts) else sum(int(n) for n in counts)


def held_keys(
    uri: str, key: str, options: StorageOptions | None = None, *, version: int | None = None
) -> set[str] | None:
    """Every non-null ``key`` of a table (empty when it does not exist), or None when it
    holds more than :data:`SCAN_MAX_ROWS` rows."""
    if not table_exists(uri, options):
        return set()
    log = _reader(uri, options, version)
    total = _row_total(log)
    if total is None or total > SCAN_MAX_ROWS:
        return None
    column = log.to_pyarrow_dataset().to_table(columns=[key]).column(key)
    return {v for v in column.to_pylist() if v is not None}


def instance_inputs(
    lake_uri: str,
    key: str,
    touched: set[str],
    version: int,
    options: StorageOptions | None = None,
    *,
    max_rows: int = DRIVER_MAX_ROWS,
) -> list[dict[str, Any]] | None:
    """The ``metadata`` rows (at ``version``, without ``path``) whose ``key`` is in
    ``touched``, each with its file's ``length`` from ``object_catalog``; None when the
    table or the drops holding them are too big to read here."""
    uri = join_uri(lake_uri, "metadata")
    if not touched or not table_exists(uri, options):
        return []
    log = _reader(uri, options, version)
    total = _row_total(log)
    if total is None or total > SCAN_MAX_ROWS:
        return None
    dataset = log.to_pyarrow_dataset()
    keys = dataset.to_table(columns=[PARTITION_COLUMN, key])
    wanted = pa.array(sorted(touched), pa.string())
    hits = keys.filter(pc.is_in(keys.column(key), value_set=wanted))
    drops: Sequence[str] = sorted(set(hits.column(PARTITION_COLUMN).to_pylist()))
    if not drops:
        return []
    rows = small_partitions(
        uri, drops, INSTANCE_COLUMNS, options, version=version, max_rows=max_rows
    )
    if rows is None:
        return None
    rows = rows.filter(pc.is_in(rows.column(key), value_set=wanted))
    return _with_lengths(lake_uri, rows, drops, options, max_rows)


def _with_lengths(
    lake_uri: str,
    rows: pa.Table,
    drops: Sequence[str],
    options: StorageOptions | None,
    max_rows: int,
) -> list[dict[str, Any]] | None:
    columns = [PARTITION_COLUMN, "row_id", "length"]
    catalog_uri = join_uri(lake_uri, "object_catalog")
    lengths: dict[tuple[str, str], int] = {}
    if table_exists(catalog_uri, options):  # none yet: lengths stay null, as in a join
        catalog = small_partitions(catalog_uri, drops, columns, options, max_rows=max_rows)
        if catalog is None:
            return None
        ids = zip(*(catalog.column(c).to_pylist() for c in columns), strict=True)
        lengths = {(drop, row): length for drop, row, length in ids}
    out: list[dict[str, Any]] = rows.to_pylist()
    for row in out:
        row["length"] = lengths.get((row[PARTITION_COLUMN], row["row_id"]))
    return out
