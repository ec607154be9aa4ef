"""``thumbnails`` and ``patches`` rows from catalog rows: thin Arrow UDFs over ``dicom``.

Output batches are bounded in files (thumbnails) and tiles (patches), so a batch of
large files cannot exhaust a worker; frames are decoded one at a time by ``dicom``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, BinaryIO

import pyarrow as pa
from pyspark.sql import DataFrame

from pixels_pipeline.dicom.budget import PixelBudget
from pixels_pipeline.dicom.errors import classify
from pixels_pipeline.dicom.patches import iter_patches
from pixels_pipeline.dicom.render import render_thumbnail
from pixels_pipeline.spark.mapped import MappedRows
from pixels_pipeline.spark.schemas import KEY_COLUMNS, PATCHES, THUMBNAILS
from pixels_pipeline.spark.session import default_parallelism, target_partitions
from pixels_pipeline.storage.archives import OpenArchives
from pixels_pipeline.storage.uri import StorageOptions, open_archives, open_uri

_INPUT = (*KEY_COLUMNS, "is_dicom")
# Each Spark task costs ~35 ms of Python-worker CPU and ~0.1 s of wall time on its own
# (measured with an empty mapInArrow), and each writing task also builds its own Parquet
# writer and Delta statistics projections (generated code, built per task). Thumbnails
# stage, 5,000-file benchmark drop, 2 cores, three alternated runs each: 128 files per
# task 20.7-23.0 s (39-43 CPU-s), 256 16.0-18.2 s (30-35 CPU-s), 512 16.5-18.6 s. Patches
# hold far more bytes per file: 256 per task was slower than 128 there (52.4-54.1 s
# against 49.7-50.9 s, more CPU too), so their tasks stay at 128 files.
THUMBNAIL_FILES_PER_TASK = 256
PATCH_FILES_PER_TASK = 128
FILES_PER_BATCH = 16  # thumbnails per output Arrow batch
TILES_PER_BATCH = 64  # patches per output Arrow batch


@dataclass(frozen=True)
class PatchSettings:
    """How to cut frames into tiles."""

    size: int = 256
    stride: int | None = None  # default: size (tiles cover each frame exactly once)
    frames: tuple[int, ...] | None = None  # default: every frame
    min_foreground: float = 0.0  # drop tiles with less foreground than this
    budget: PixelBudget = field(default_factory=PixelBudget)  # image_too_large beyond it


@contextmanager
def _local_or_open(uri: str, options: StorageOptions, archives: OpenArchives) -> Iterator[BinaryIO]:
    """An open file, closed on exit so a task over thousands of remote files holds no
    sockets open. Local files are opened once, here, as regular files without following
    links: a path handed on would be opened again later, after the check."""
    with open_uri(uri, options, archives=archives) as fh:
        yield fh


def _error(keys: dict[str, Any], exc: BaseException, schema: pa.Schema) -> dict[str, Any]:
    error_type, message = classify(exc)
    text = message if message.startswith(keys["path"]) else f"{keys['path']}: {message}"
    return {
        **dict.fromkeys(schema.names),
        **keys,
        "error_type": error_type.value,
        "error_message": text,
    }


def _file_rows(
    batches: Iterator[pa.RecordBatch],
    rows_of: Callable[[dict[str, Any]], Iterator[dict[str, Any]]],
    schema: pa.Schema,
) -> Iterator[dict[str, Any]]:
    """Output rows of every input file; a file that fails adds one typed error row after
    whatever rows it produced (one bad file is a row, never a failed task)."""
    warnings.filterwarnings("ignore", module="pydicom")
    for batch in batches:
        for f in batch.to_pylist():
            keys = {k: f[k] for k in KEY_COLUMNS}
            try:
                for row in rows_of(f):
                    yield {**keys, **row, "error_type": None, "error_message": None}
            except Exception as exc:
                yield _error(keys, exc, schema)


def _in_batches(
    rows: Iterator[dict[str, Any]], schema: pa.Schema, size: int
) -> Iterator[pa.RecordBatch]:
    """Arrow batches of at most ``size`` rows: bounds a worker's memory per batch."""
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield pa.RecordBatch.from_pylist(chunk, schema=schema)
            chunk = []
    if chunk:
        yield pa.RecordBatch.from_pylist(chunk, schema=schema)


@dataclass(frozen=True)
class _Thumbnailer:
    options: StorageOptions
    max_size: int
    budget: PixelBudget

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        with open_archives(self.options) as archives:
            rows = _file_rows(batches, partial(self._rows, archives=archives), THUMBNAILS)
            yield from _in_batches(rows, THUMBNAILS, FILES_PER_BATCH)

    def _rows(self, f: dict[str, Any], archives: OpenArchives) -> Iterator[dict[str, Any]]:
        with _local_or_open(f["path"], self.options, archives) as source:
            t = render_thumbnail(source, max_size=self.max_size, budget=self.budget)
        yield {
            "sop_instance_uid": t.sop_instance_uid,
            "modality": t.modality,
            "frame_index": t.frame_index,
            "number_of_frames": t.number_of_frames,
            "thumbnail_png": t.png,
            "width": t.width,
            "height": t.height,
            "rows": t.rows,
            "columns": t.columns,
            "decoder": t.decoder,
            "settings": t.settings,
        }


@dataclass(frozen=True)
class _Patcher:
    options: StorageOptions
    settings: PatchSettings

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        with open_archives(self.options) as archives:
            rows = _file_rows(batches, partial(self._rows, archives=archives), PATCHES)
            yield from _in_batches(rows, PATCHES, TILES_PER_BATCH)

    def _rows(self, f: dict[str, Any], archives: OpenArchives) -> Iterator[dict[str, Any]]:
        s = self.settings
        with _local_or_open(f["path"], self.options, archives) as source:
            for p in iter_patches(
                source,
                size=s.size,
                stride=s.stride,
                frames=s.frames,
                min_foreground=s.min_foreground,
                budget=s.budget,
            ):
                yield {
                    "frame_index": p.frame_index,
                    "x": p.x,
                    "y": p.y,
                    "width": p.width,
                    "height": p.height,
                    "encoding": p.encoding,
                    "data": p.data,
                    "dtype": p.dtype,
                    "shape": list(p.shape),
                    "foreground": p.foreground,
                }


def _dicom_files(catalog: DataFrame, num_files: int | None, per_task: int) -> DataFrame:
    """The catalog's DICOM files in tasks of about ``per_task`` files (``num_files``, e.g.
    from the Delta log, sizes them; without it, four tasks per core)."""
    spark = catalog.sparkSession
    n = num_files if num_files is not None else default_parallelism(spark) * 4 * per_task
    return (
        catalog.where("is_dicom")
        .select(*_INPUT)
        .repartition(target_partitions(spark, n, per_task=per_task))
    )


def thumbnail_rows(
    catalog: DataFrame,
    *,
    options: StorageOptions | None = None,
    max_size: int = 256,
    num_files: int | None = None,
    budget: PixelBudget | None = None,
) -> MappedRows:
    """One ``thumbnails`` row per DICOM file of ``catalog``, not yet computed: the Delta
    writer renders and writes them in the same tasks. See :func:`render_thumbnails`."""
    worker = _Thumbnailer(options or StorageOptions(), max_size, budget or PixelBudget())
    files = _dicom_files(catalog, num_files, THUMBNAIL_FILES_PER_TASK)
    return MappedRows(files, worker, THUMBNAILS)


def render_thumbnails(
    catalog: DataFrame,
    *,
    options: StorageOptions | None = None,
    max_size: int = 256,
    num_files: int | None = None,
    budget: PixelBudget | None = None,
) -> DataFrame:
    """One ``thumbnails`` row per DICOM file of ``catalog`` (lazy DataFrame): the PNG of
    its middle frame, or a typed error (e.g. ``no_pixel_data`` for an SR document,
    ``image_too_large`` beyond ``budget``)."""
    rows = thumbnail_rows(
        catalog, options=options, max_size=max_size, num_files=num_files, budget=budget
    )
    return rows.to_dataframe()


def patch_rows(
    catalog: DataFrame,
    *,
    options: StorageOptions | None = None,
    settings: PatchSettings | None = None,
    num_files: int | None = None,
) -> MappedRows:
    """``patches`` rows for every DICOM file of ``catalog``, not yet computed: the Delta
    writer cuts and writes them in the same tasks. See :func:`cut_patches`."""
    worker = _Patcher(options or StorageOptions(), settings or PatchSettings())
    return MappedRows(_dicom_files(catalog, num_files, PATCH_FILES_PER_TASK), worker, PATCHES)


def cut_patches(
    catalog: DataFrame,
    *,
    options: StorageOptions | None = None,
    settings: PatchSettings | None = None,
    num_files: int | None = None,
) -> DataFrame:
    """``patches`` rows for every DICOM file of ``catalog`` (lazy DataFrame): its tiles,
    plus one error row for a file that cannot be (fully) tiled."""
    rows = patch_rows(catalog, options=options, settings=settings, num_files=num_files)
    return rows.to_dataframe()
