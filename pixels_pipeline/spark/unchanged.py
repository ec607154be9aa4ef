""" "Nothing changed" for a small drop, decided on the driver without a Spark job.

A re-run of a drop whose files are all as cataloged must cost milliseconds, not a Spark
listing and a plan. For a drop of at most :data:`MAX_LISTED` entries, the driver lists it
(the same :func:`list_entries` the Spark tasks use) and compares each file's ``row_id``
and fingerprint with the catalog's rows, read by delta-rs. Anything it does not model
exactly (archives, links, special files, unreadable folders, transient errors, content
hashes, a bigger drop) is reported as changed, so the Spark path decides: a false
"changed" costs time, a false "unchanged" is impossible by construction.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import islice

from pixels_pipeline.dicom.errors import TRANSIENT_ERRORS
from pixels_pipeline.spark.delta_reader import partition_row_counts, small_partitions
from pixels_pipeline.spark.schemas import PARTITION_COLUMN
from pixels_pipeline.storage.landing import Drop, check_drop_id
from pixels_pipeline.storage.listing import entry_uri, fingerprint_of, list_entries, row_id_of
from pixels_pipeline.storage.local import check_folder
from pixels_pipeline.storage.uri import StorageOptions, filesystem_for, scheme_of

MAX_LISTED = 2_000  # entries per drop listed on the driver for this check, at most

Key = tuple[str, str, str]  # drop_id, row_id, fingerprint


def listed_keys(drop: Drop, options: StorageOptions) -> set[Key] | None:
    """The catalog keys the drop's files would have, or None if the drop is larger than
    :data:`MAX_LISTED` entries or holds anything but plain files."""
    check_drop_id(drop.drop_id)
    fs, root = filesystem_for(drop.uri, options)
    is_local = scheme_of(drop.uri) == "file"
    if is_local:
        check_folder(root)
    listed = list_entries(fs, root, root, is_local=is_local, recursive=True)
    keys: set[Key] = set()
    for entry in islice(listed, MAX_LISTED + 1):
        if entry.kind != "file" or entry.error is not None or len(keys) >= MAX_LISTED:
            return None
        uri = entry_uri(drop.uri, entry.path, entry.relative_path, is_local=is_local)
        keys.add((drop.drop_id, row_id_of(uri), fingerprint_of(entry.size, entry.mtime)))
    return keys


def catalog_unchanged(
    catalog_uri: str, drops: Sequence[Drop], options: StorageOptions | None = None
) -> bool:
    """True only if every drop is small, its files are exactly the catalog's rows (same
    row ids and fingerprints) and no row of it carries an error worth retrying."""
    opts = options or StorageOptions()
    held_rows = partition_row_counts(catalog_uri, [d.drop_id for d in drops], opts)
    if any(n == 0 or n > MAX_LISTED for n in held_rows.values()):
        return False  # new, or too big to list on the driver: Spark lists it
    expected: set[Key] = set()
    for drop in drops:
        try:
            keys = listed_keys(drop, opts)
        except Exception:  # the Spark path lists again and reports it properly
            return False
        if keys is None:
            return False
        expected |= keys
    columns = [PARTITION_COLUMN, "row_id", "fingerprint", "error_type"]
    held = small_partitions(catalog_uri, [d.drop_id for d in drops], columns, opts)
    if held is None or held.num_rows != len(expected):
        return False
    transient = {t.value for t in TRANSIENT_ERRORS}
    if any(e in transient for e in held.column("error_type").to_pylist()):
        return False
    rows = zip(*(held.column(c).to_pylist() for c in columns[:3]), strict=True)
    return set(rows) == expected
