"""Distributed listing of drops into ``object_catalog`` rows.

The driver lists nothing: each drop's top level is listed inside a Spark task, the
entries are spread over tasks that walk sub-folders recursively, and the files are
sniffed (first 132 bytes) in tasks sized by the work found. Entries travel in Arrow
batches of at most :data:`LIST_BATCH` rows and the listing is kept in the executors'
block stores (memory, spilling to disk) between listing and sniffing, so a flat folder of
50,000 files costs the driver no more memory than a folder of 50; a listing task holds
the names of the one folder it is listing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import chain, islice
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as fn

from pixels_pipeline.spark.schemas import OBJECT_CATALOG, spark_schema
from pixels_pipeline.spark.session import default_parallelism, target_partitions
from pixels_pipeline.storage.archives import ArchiveLimits
from pixels_pipeline.storage.landing import Drop, check_drop_id
from pixels_pipeline.storage.listing import (
    FileEntry,
    Listed,
    describe_file,
    entry_uri,
    list_entries,
    unread_row,
)
from pixels_pipeline.storage.local import check_folder, relative_text
from pixels_pipeline.storage.uri import StorageOptions, filesystem_for, scheme_of

_ENTRIES = pa.schema(
    [
        ("drop_id", pa.string()),
        ("drop_uri", pa.string()),
        ("drop_path", pa.string()),
        ("path", pa.string()),  # the stored path (file system path or URI)
        ("relative_path", pa.string()),
        ("size", pa.int64()),
        ("mtime", pa.timestamp("us", tz="UTC")),
        ("kind", pa.string()),  # file, symlink, special_file, unlisted (see Listed)
        ("error", pa.string()),  # why it is not read
    ]
)
LIST_BATCH = 4096  # entries per Arrow batch out of a listing task
FILES_PER_TASK = 4096  # files sniffed per task: a task costs ~0.1-0.2 s to start here
BYTES_PER_TASK = 1 << 30  # with hash_content every byte is read: also size tasks by bytes
UNLISTED_FOLDER = "cannot list folder"  # error_message of a folder's row: keep its files' rows


def entry_batches(
    base: Mapping[str, str], listed: Iterable[Listed], size: int = LIST_BATCH
) -> Iterator[pa.RecordBatch]:
    """Entries of one drop (``base``: its ``drop_id``, ``drop_uri``, ``drop_path``) as
    Arrow batches of at most ``size`` rows, read lazily: a listing of any length is held
    one batch at a time. Built column by column (rows as dicts cost ten times more)."""
    it = iter(listed)
    while chunk := list(islice(it, size)):
        n = len(chunk)
        columns = [
            pa.array([base["drop_id"]] * n, pa.string()),
            pa.array([base["drop_uri"]] * n, pa.string()),
            pa.array([base["drop_path"]] * n, pa.string()),
            pa.array([e.path for e in chunk], pa.string()),
            pa.array([e.relative_path for e in chunk], pa.string()),
            pa.array([e.size for e in chunk], pa.int64()),
            pa.array([e.mtime for e in chunk], _ENTRIES.field("mtime").type),
            pa.array([e.kind for e in chunk], pa.string()),
            pa.array([e.error for e in chunk], pa.string()),
        ]
        yield pa.RecordBatch.from_arrays(columns, schema=_ENTRIES)


def _pending(batch: pa.RecordBatch) -> pa.BooleanArray:
    """Which entries are folders still to list (a drop's root, or a sub-folder found by
    a listing): ``unlisted`` without an error."""
    unlisted = pc.equal(batch.column("kind"), "unlisted")
    return pc.and_(pc.fill_null(unlisted, False), pc.is_null(batch.column("error")))


@dataclass(frozen=True)
class Lister:
    """Lists the pending folders among its entries (``recursive``: down to the leaves)
    and passes every other entry through as it is; a folder that fails to list is an
    error entry."""

    options: StorageOptions
    recursive: bool

    def __call__(self, batches_in: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches_in:
            pending = _pending(batch)
            if not pc.any(pending).as_py():
                if batch.num_rows:
                    yield batch
                continue
            others = batch.filter(pc.invert(pending))
            if others.num_rows:
                yield others
            for folder in batch.filter(pending).to_pylist():
                yield from self._listed(folder)

    def _listed(self, folder: dict[str, Any]) -> Iterator[pa.RecordBatch]:
        drop_uri, drop_path, path = folder["drop_uri"], folder["drop_path"], folder["path"]
        base = {k: folder[k] for k in ("drop_id", "drop_uri", "drop_path")}
        is_local = scheme_of(drop_uri) == "file"
        listed: Iterator[Listed]
        try:
            fs, _ = filesystem_for(drop_uri, self.options)
            # Local listings are generators (read as they go); an object store's comes
            # in one piece, so its failures surface here, before any of its entries.
            listed = list_entries(fs, drop_path, path, is_local=is_local, recursive=self.recursive)
            if not is_local:
                listed = iter(list(listed))
            first = next(listed, None)
        except Exception as exc:
            error = f"{UNLISTED_FOLDER}: {type(exc).__name__}"  # no path: PHI
            relative = (
                relative_text(drop_path, path) if is_local else path[len(drop_path) :].lstrip("/")
            )
            if not is_local and not relative:  # a drop on object storage: fail the run
                raise OSError(f"cannot list the drop: {type(exc).__name__}") from None
            yield from entry_batches(base, [Listed(path, relative, 0, None, "unlisted", error)])
            return
        if first is not None:
            yield from entry_batches(base, chain([first], listed))


@dataclass(frozen=True)
class Describer:
    """Sniffs each file entry (a zip archive: its members); other entries become the
    typed rows of what is not read."""

    options: StorageOptions
    ingested_at: datetime
    hash_content: bool
    limits: ArchiveLimits

    def __call__(self, batches_in: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches_in:
            rows = []
            for e in batch.to_pylist():
                is_local = scheme_of(e["drop_uri"]) == "file"
                entry = FileEntry(
                    drop_id=e["drop_id"],
                    drop_uri=e["drop_uri"],
                    relative_path=e["relative_path"],
                    size=e["size"],
                    mtime=e["mtime"],
                    uri=entry_uri(e["drop_uri"], e["path"], e["relative_path"], is_local=is_local),
                )
                is_anon = self.options.anonymous and not is_local
                if e["kind"] != "file":
                    message = e["error"] or "not read"
                    row = unread_row(entry, e["kind"], message, is_anon, self.ingested_at)
                    rows.append(row)
                    continue
                fs, _ = filesystem_for(e["drop_uri"], self.options)
                rows.extend(
                    describe_file(
                        fs,
                        e["path"],
                        entry,
                        is_local=is_local,
                        is_anon=is_anon,
                        ingested_at=self.ingested_at,
                        hash_content=self.hash_content,
                        limits=self.limits,
                    )
                )
            yield pa.RecordBatch.from_pylist(rows, schema=OBJECT_CATALOG)


def catalog_drops(
    spark: SparkSession,
    drops: Sequence[Drop],
    *,
    options: StorageOptions | None = None,
    hash_content: bool = False,
    archive_limits: ArchiveLimits | None = None,
) -> DataFrame:
    """One ``object_catalog`` row per file of each drop, recursively.

    ``hash_content`` adds a sha256 of each file to its fingerprint (reads every byte);
    zip archives are expanded into member rows within ``archive_limits``. The listing
    runs now (a Spark job, kept with ``localCheckpoint``, then a one-row count) so that
    the sniffing tasks can be sized by the files found; the sniffing itself is lazy."""
    listing = listed_drops(
        spark, drops, options=options, hash_content=hash_content, archive_limits=archive_limits
    )
    return listing.rows()


@dataclass(frozen=True)
class CatalogListing:
    """The drops' entries, listed and kept in the executors (``localCheckpoint``), and the
    sniffer that makes them catalog rows: all of them (:meth:`rows`) or some (:meth:`rows_of`)."""

    entries: DataFrame  # _ENTRIES rows
    describer: Describer

    def rows(self) -> DataFrame:
        """Every entry's rows (lazy), in tasks sized by the files found (one small job)."""
        totals = self.entries.agg(
            fn.count(fn.lit(1)).alias("n"), fn.sum("size").alias("bytes")
        ).first()
        n_files = int(totals["n"]) if totals is not None else 0
        n_bytes = int(totals["bytes"] or 0) if totals is not None else 0
        spark = self.entries.sparkSession
        tasks = sniff_tasks(spark, n_files, n_bytes if self.describer.hash_content else 0)
        return self.entries.repartition(tasks).mapInArrow(
            self.describer, spark_schema(OBJECT_CATALOG)
        )

    def rows_of(self, entries: pa.Table) -> DataFrame:
        """The rows of ``entries`` (some of :attr:`entries`, collected on the driver), lazy."""
        spark = self.entries.sparkSession
        if entries.num_rows == 0:  # pyspark cannot convert a table of no chunks
            return spark.createDataFrame([], spark_schema(OBJECT_CATALOG))
        n_bytes = pc.sum(entries.column("size")).as_py() or 0
        tasks = sniff_tasks(spark, entries.num_rows, n_bytes if self.describer.hash_content else 0)
        local = entries.select(_ENTRIES.names).cast(_ENTRIES).combine_chunks()
        frame = spark.createDataFrame(local, spark_schema(_ENTRIES))
        return frame.repartition(tasks).mapInArrow(self.describer, spark_schema(OBJECT_CATALOG))


def listed_drops(
    spark: SparkSession,
    drops: Sequence[Drop],
    *,
    options: StorageOptions | None = None,
    hash_content: bool = False,
    archive_limits: ArchiveLimits | None = None,
) -> CatalogListing:
    """The drops listed now (a Spark job; entries kept with ``localCheckpoint``), to be
    sniffed later (see :func:`catalog_drops` for the options)."""
    opts = options or StorageOptions()
    entries = list_drops(spark, drops, options=opts).localCheckpoint()
    describer = Describer(
        opts, datetime.now(timezone.utc), hash_content, archive_limits or ArchiveLimits()
    )
    return CatalogListing(entries, describer)


def list_drops(
    spark: SparkSession, drops: Sequence[Drop], *, options: StorageOptions | None = None
) -> DataFrame:
    """Every entry of the drops (lazy): one task lists each drop's top level, then its
    entries are spread round robin over tasks that walk the sub-folders among them.
    The driver only checks that each drop's root is a folder."""
    opts = options or StorageOptions()
    roots: list[pa.RecordBatch] = []
    for drop in drops:
        check_drop_id(drop.drop_id)
        fs, root = filesystem_for(drop.uri, opts)
        if scheme_of(drop.uri) == "file":
            check_folder(root)
        elif fs.get_file_info(root).type == pafs.FileType.NotFound:
            raise FileNotFoundError("drop folder not found")
        base = {"drop_id": drop.drop_id, "drop_uri": drop.uri, "drop_path": root}
        roots.extend(entry_batches(base, [Listed(root, "", 0, None, "unlisted")]))
    schema = spark_schema(_ENTRIES)
    table = pa.Table.from_batches(roots, schema=_ENTRIES)
    units = spark.createDataFrame(table.to_pandas(), schema)
    top = units.mapInArrow(Lister(opts, recursive=False), schema)
    walkers = default_parallelism(spark) * 2
    return top.repartition(walkers).mapInArrow(Lister(opts, recursive=True), schema)


def sniff_tasks(spark: SparkSession, n_files: int, n_bytes: int = 0) -> int:
    """Tasks to sniff ``n_files`` files (reading ``n_bytes`` in all): about
    :data:`FILES_PER_TASK` files or :data:`BYTES_PER_TASK` bytes each, whichever makes
    more tasks, in whole waves of one task per core (at least one wave)."""
    cores = default_parallelism(spark)
    by_bytes = -(-n_bytes // BYTES_PER_TASK) * FILES_PER_TASK
    work = max(n_files, by_bytes, cores)
    return target_partitions(spark, work, per_task=FILES_PER_TASK)
