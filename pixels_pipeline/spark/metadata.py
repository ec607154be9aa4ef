"""``metadata`` rows from catalog rows: a thin Arrow UDF over ``dicom.instance``."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
from pyspark.sql import DataFrame

from pixels_pipeline.dicom.instance import error_row, metadata_row
from pixels_pipeline.spark.schemas import METADATA, spark_schema
from pixels_pipeline.spark.session import target_partitions
from pixels_pipeline.storage.uri import StorageOptions, open_uri

FILES_PER_TASK = 64
_INPUT = ("row_id", "path", "drop_id", "length", "is_dicom")


@dataclass(frozen=True)
class _Extractor:
    options: StorageOptions

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        warnings.filterwarnings("ignore", module="pydicom")  # per-file issues become rows
        for batch in batches:
            rows = []
            for f in batch.to_pylist():
                keys = {"row_id": f["row_id"], "path": f["path"], "drop_id": f["drop_id"]}
                try:
                    if not f["is_dicom"]:
                        row = metadata_row(None, uri=f["path"], is_dicom=False, size=f["length"])
                    else:
                        with open_uri(f["path"], self.options) as fh:
                            row = metadata_row(fh, uri=f["path"], is_dicom=True, size=f["length"])
                except Exception as exc:  # I/O errors opening the file
                    row = error_row(exc, uri=f["path"])
                rows.append({**keys, **row})
            yield pa.RecordBatch.from_pylist(rows, schema=METADATA)


def extract_metadata(
    catalog: DataFrame, *, options: StorageOptions | None = None, num_files: int | None = None
) -> DataFrame:
    """One ``metadata`` row per catalog row (lazy DataFrame).

    ``num_files`` (e.g. from the Delta log) sizes the tasks; without it, four per core.
    """
    spark = catalog.sparkSession
    n = (
        num_files
        if num_files is not None
        else spark.sparkContext.defaultParallelism * 4 * FILES_PER_TASK
    )
    return (
        catalog.select(*_INPUT)
        .repartition(target_partitions(spark, n, per_task=FILES_PER_TASK))
        .mapInArrow(_Extractor(options or StorageOptions()), spark_schema(METADATA))
    )
