"""Rows an Arrow UDF will compute, kept apart from the DataFrame that would run it.

The silver stages hand the table writer their UDF with its input: the writer decides how
to run it (today one ``mapInArrow`` feeding Spark's Delta writer, the same job for a
partition overwrite or a ``MERGE`` source) and the rows carry the catalog's fingerprint,
so an incremental update needs no join to attach it. The earlier delta-rs writer ran the
UDF and the Parquet writer in one Python task; Spark's writer runs in the JVM.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pyarrow as pa
from pyspark.sql import DataFrame

from pixels_pipeline.spark.schemas import spark_schema

__all__ = ["ArrowTransform", "MappedRows", "Rows"]

ArrowTransform = Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]
"""A ``mapInArrow`` function: Arrow batches of input rows in, batches of output rows out."""


@dataclass(frozen=True)
class MappedRows:
    """The rows ``transform`` makes of ``source``'s rows, in the layout of ``schema``.

    Output rows carry ``source``'s ``fingerprint`` (the UDFs pass it through), so an
    incremental update needs no join to attach it.
    """

    source: DataFrame
    transform: ArrowTransform
    schema: pa.Schema

    def to_dataframe(self) -> DataFrame:
        """The rows as a lazy DataFrame (one ``mapInArrow``)."""
        return self.source.mapInArrow(self.transform, spark_schema(self.schema))


Rows = DataFrame | MappedRows
"""What the Delta writer accepts: a DataFrame, or rows still to be computed."""
