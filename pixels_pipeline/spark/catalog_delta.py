"""An incremental ``object_catalog`` update sniffs only the entries that are new or changed.

A plain file's catalog key ``(drop_id, row_id, fingerprint)`` follows from its listing
entry alone: ``row_id`` hashes the URI it is stored under, the fingerprint is its size and
modification time. So the driver collects the listing (bounded, like the driver plan's
keys), takes every plain file whose key the table holds on an error-free row as unchanged,
and only the other entries are sniffed in Spark tasks. Everything it does not model
exactly is sniffed as before: zip archives (their rows are members, under other keys),
links, special files, entries with an error, rows with an error (transient or not), and
content hashes (the fingerprint needs the bytes). A folder that could not be listed, or a
drop too big to plan on the driver, takes the full path (``None``). A false "changed"
costs a sniff; a false "unchanged" needs a file rewritten with the same size and
modification time, which is what the fingerprint assumes everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame, SparkSession

from pixels_pipeline.spark.catalog import UNLISTED_FOLDER, CatalogListing
from pixels_pipeline.spark.delta_reader import DRIVER_READ_MAX_ROWS, local_frame, small_partitions
from pixels_pipeline.spark.key_diff import (
    DIFF_MAX_ROWS,
    KEYS,
    KeyDiff,
    diff_keys,
    rows_of_keys,
    rows_with_keys,
)
from pixels_pipeline.spark.schemas import OBJECT_CATALOG
from pixels_pipeline.storage.listing import entry_uri, fingerprint_of, row_id_of
from pixels_pipeline.storage.uri import StorageOptions, scheme_of

__all__ = ["SniffedChanges", "sniff_changed", "unchanged_entries"]

Key = tuple[str, str, str]  # drop_id, row_id, fingerprint
_KEY_SCHEMA = pa.schema([(k, pa.string()) for k in KEYS])


def unchanged_entries(entries: pa.Table, held: pa.Table) -> tuple[pa.BooleanArray, pa.Table]:
    """Which listing ``entries`` are plain files the table already holds, as one error-free
    row (``held``: :data:`KEYS` + ``error_type``) with the key the file would get, and
    those keys."""
    no_error = pc.is_null(held.column("error_type"))
    clean: set[Key] = set(
        zip(*(held.filter(no_error).column(k).to_pylist() for k in KEYS), strict=True)
    )
    mask: list[bool] = []
    keys: list[Key] = []
    names = ["drop_id", "drop_uri", "path", "relative_path", "size", "mtime", "kind", "error"]
    for drop_id, drop_uri, path, relative, size, mtime, kind, error in zip(
        *(entries.column(c).to_pylist() for c in names), strict=True
    ):
        same = False
        if kind == "file" and error is None and path is not None and relative is not None:
            is_local = scheme_of(drop_uri) == "file"
            uri = entry_uri(drop_uri, path, relative, is_local=is_local)
            key = (drop_id, row_id_of(uri), fingerprint_of(size, mtime))
            same = key in clean
            if same:
                keys.append(key)
        mask.append(same)
    columns = [pa.array(list(column), pa.string()) for column in zip(*keys, strict=True)]
    table = pa.Table.from_arrays(columns, schema=_KEY_SCHEMA) if keys else _KEY_SCHEMA.empty_table()
    return pa.array(mask, pa.bool_()), table


# Changed entries up to which the sniffed rows come back to the driver in one job: the
# MERGE source is then picked there (no checkpoint, no join of the rows with the keys).
LOCAL_SNIFF_MAX = DRIVER_READ_MAX_ROWS


@dataclass(frozen=True)
class SniffedChanges:
    """What :func:`sniff_changed` found."""

    rows: DataFrame | pa.Table  # the sniffed entries' rows: checkpointed, or on the driver
    diff: KeyDiff
    sniffed: int  # entries sniffed (the others were taken as unchanged)

    def new_rows(self, spark: SparkSession) -> DataFrame:
        """The rows to insert: the sniffed rows whose key the plan adds."""
        if isinstance(self.rows, DataFrame):
            return rows_with_keys(self.rows, self.diff.todo)
        return local_frame(spark, rows_of_keys(self.rows, self.diff.todo), OBJECT_CATALOG)


def sniff_changed(
    listing: CatalogListing,
    table_uri: str,
    drop_ids: Sequence[str],
    version: int,
    options: StorageOptions | None,
) -> SniffedChanges | None:
    """Sniff the new or changed entries of ``listing`` only and plan the update from the
    unchanged files' keys and the sniffed rows' keys; None when this does not apply."""
    if listing.describer.hash_content:
        return None
    held = small_partitions(
        table_uri, drop_ids, [*KEYS, "error_type"], options, version=version, max_rows=DIFF_MAX_ROWS
    )
    if held is None:
        return None
    entries = listing.entries.limit(DIFF_MAX_ROWS + 1).toArrow()
    if entries.num_rows > DIFF_MAX_ROWS:
        return None
    if pc.any(pc.equal(entries.column("kind"), "unlisted")).as_py():
        return None  # a folder that failed to list keeps its files' rows: the full path
    same, kept = unchanged_entries(entries, held)
    changed = entries.filter(pc.invert(same))
    limit = DIFF_MAX_ROWS - kept.num_rows
    rows: DataFrame | pa.Table
    if changed.num_rows <= LOCAL_SNIFF_MAX:  # sniffed in one job, rows kept here
        rows = listing.rows_of(changed).toArrow()
        if rows.num_rows > limit:  # archives expanded past what the driver plans
            return None
        sniffed = rows.select([*KEYS, "error_message"])
    else:
        rows = listing.rows_of(changed).localCheckpoint()
        sniffed = rows.select(*KEYS, "error_message").limit(limit + 1).toArrow()
        if sniffed.num_rows > limit:
            return None
    messages = pc.fill_null(sniffed.column("error_message"), "")
    if pc.any(pc.match_substring(messages, UNLISTED_FOLDER)).as_py():
        return None
    listed = pa.concat_tables([kept, sniffed.select(KEYS).cast(_KEY_SCHEMA)])
    diff = diff_keys(held, listed)
    return None if diff is None else SniffedChanges(rows, diff, changed.num_rows)
