"""Gold tables ``series`` and ``studies``: one row per UID across all drops.

Each update reads ``metadata``'s Change Data Feed from the version the gold table last
consumed up to the current one, collects the UIDs those changes touched (inserted,
deleted or updated rows, before and after images alike), recomputes those UIDs from
the current ``metadata`` rows of every drop, and ``MERGE``s them: changed rows are
replaced, new ones inserted, UIDs without rows left deleted.

The consumed metadata version is the table's Delta app transaction
(``pixels_pipeline:<table><-metadata``, ``txnVersion`` = metadata version), committed in
the same commit as the data: a crash before the commit leaves the old version (the next
update reads the same window again), and a retry after it finds nothing to do.

Full recompute (every UID of ``metadata`` and of the gold table): the first update, and
when the window cannot be read (older files vacuumed, Change Data Feed off at the time).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd
import pyarrow as pa
from deltalake import DeltaTable as LogReader
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as fn
from pyspark.sql.types import ArrayType, DoubleType

from pixels_pipeline.dicom.geometry import InstanceGeometry, acquisition_datetime, series_geometry
from pixels_pipeline.spark.delta_reader import read_table_uri, table_uri, table_version_of
from pixels_pipeline.spark.delta_tables import table_exists
from pixels_pipeline.spark.delta_writer import CommitResult, merge_by_key, transaction_version
from pixels_pipeline.spark.maintenance import changes
from pixels_pipeline.spark.schemas import (
    GOLD_KEYS,
    METADATA,
    OBJECT_CATALOG,
    PARTITION_COLUMN,
    SERIES,
    STUDIES,
    TABLES,
    spark_schema,
)
from pixels_pipeline.storage.uri import StorageOptions

__all__ = [
    "SOURCE",
    "GoldTable",
    "GoldUpdate",
    "app_id_of",
    "instance_fields",
    "series_rows",
    "study_rows",
    "update_gold",
]

SOURCE = "metadata"
GoldTable = Literal["series", "studies"]

# DICOM JSON tags read from ``meta`` (not typed columns of metadata, which stays as is).
_TEXT_TAGS = {
    "series_description": "0008103E",
    "manufacturer_model_name": "00081090",
    "patient_sex": "00100040",
    "patient_age": "00101010",
    "study_description": "00081030",
    "accession_number": "00080050",
    "acquisition_datetime": "0008002A",
    "acquisition_date": "00080022",
    "acquisition_time": "00080032",
}
_NUMBER_TAGS = {
    "image_position": "00200032",
    "image_orientation": "00200037",
    "pixel_spacing": "00280030",
}
_SLICE_THICKNESS = "00180050"
_GEOMETRY_OUT = (
    "series_instance_uid string, frame_count bigint, "
    "first_acquisition timestamp, last_acquisition timestamp, "
    "orientation_count int, single_orientation boolean, image_orientation array<double>, "
    "slice_spacing_min double, slice_spacing_mean double, slice_spacing_max double, "
    "duplicate_positions int, missing_positions int, is_regular_volume boolean"
)


@dataclass(frozen=True)
class GoldUpdate:
    """What one update of a gold table did."""

    commit: CommitResult | None  # None: nothing to do (or no metadata yet)
    mode: Literal["none", "incremental", "full"]
    touched: int  # UIDs recomputed
    source_version: int  # metadata version the table reflects (-1: none yet)
    rows: int  # rows in the table afterwards


def _json_value(tag: str) -> Column:
    return fn.get_json_object(fn.col("meta"), f"$['{tag}'].Value")


def instance_fields(metadata: DataFrame, catalog: DataFrame) -> DataFrame:
    """Metadata rows with the header fields the gold tables need (typed columns, values
    from the ``meta`` DICOM JSON) and the file size from the catalog."""
    numbers = ArrayType(DoubleType())
    sizes = catalog.select(PARTITION_COLUMN, "row_id", "length")
    return metadata.join(sizes, [PARTITION_COLUMN, "row_id"], "left").select(
        *[c for c in METADATA.names if c != "meta"],
        "length",
        *[fn.get_json_object("meta", f"$['{t}'].Value[0]").alias(n) for n, t in _TEXT_TAGS.items()],
        *[fn.from_json(_json_value(t), numbers).alias(n) for n, t in _NUMBER_TAGS.items()],
        fn.element_at(fn.from_json(_json_value(_SLICE_THICKNESS), numbers), 1).alias(
            "slice_thickness"
        ),
    )


def _agreed(name: str) -> Column:
    """The value when every row that has one agrees, else null."""
    return fn.when(fn.min(name) == fn.max(name), fn.min(name)).alias(name)


def _common(key: str) -> list[Column]:
    return [
        fn.countDistinct("sop_instance_uid").alias("instance_count"),
        fn.count(fn.lit(1)).alias("file_count"),
        fn.sum("length").alias("total_bytes"),
        fn.array_sort(fn.collect_set(PARTITION_COLUMN)).alias("drop_ids"),
        fn.sum(fn.when(fn.col("error_type").isNotNull(), 1).otherwise(0)).alias("error_count"),
    ]


def series_rows(instances: DataFrame, *, version: int) -> DataFrame:
    """One ``series`` row per Series Instance UID of ``instance_fields`` rows. Where
    instances disagree on a descriptive value, the smallest one is kept."""
    key = GOLD_KEYS["series"]
    rows = instances.where(fn.col(key).isNotNull())
    first = [fn.min(c).alias(c) for c in SERIES.names[1:9]]
    agg = rows.groupBy(key).agg(
        *first,
        fn.array_sort(fn.collect_set("sop_class_uid")).alias("sop_class_uids"),
        fn.array_sort(fn.collect_set("transfer_syntax_uid")).alias("transfer_syntax_uids"),
        *[_agreed(c) for c in ("rows", "columns", "pixel_spacing", "slice_thickness")],
        *_common(key),
    )
    geometry = rows.select(
        key,
        "sop_instance_uid",
        "image_position",
        "image_orientation",
        "rows",
        "columns",
        "pixel_spacing",
        "number_of_frames",
        "acquisition_datetime",
        "acquisition_date",
        "acquisition_time",
    ).groupBy(key)
    geo = geometry.applyInPandas(_series_geometry, _GEOMETRY_OUT)
    return _finish(agg.join(geo, key), "series", version)


def study_rows(instances: DataFrame, *, version: int) -> DataFrame:
    """One ``studies`` row per Study Instance UID of ``instance_fields`` rows."""
    key = GOLD_KEYS["studies"]
    first = [fn.min(c).alias(c) for c in STUDIES.names[1:7]]
    agg = (
        instances.where(fn.col(key).isNotNull())
        .groupBy(key)
        .agg(
            *first,
            fn.array_sort(fn.collect_set("modality")).alias("modalities"),
            fn.countDistinct("series_instance_uid").alias("series_count"),
            *_common(key),
        )
    )
    return _finish(agg, "studies", version)


def _finish(rows: DataFrame, table: str, version: int) -> DataFrame:
    with_trailer = rows.withColumn("metadata_version", fn.lit(version)).withColumn(
        "updated_at", fn.current_timestamp()
    )
    return with_trailer.select(
        *[fn.col(f.name).cast(f.dataType) for f in spark_schema(TABLES[table]).fields]
    )


def _series_geometry(pdf: pd.DataFrame) -> pd.DataFrame:
    """applyInPandas: one series' instances in, its geometry and acquisition span out.
    Files holding the same SOP Instance (re-encoded copies) count once."""
    named = pdf[pdf["sop_instance_uid"].notna()].drop_duplicates("sop_instance_uid")
    records = pd.concat([named, pdf[pdf["sop_instance_uid"].isna()]]).to_dict("records")
    geometry = series_geometry(
        [
            InstanceGeometry(
                position=_floats(r["image_position"]),
                orientation=_floats(r["image_orientation"]),
                rows=_int(r["rows"]),
                columns=_int(r["columns"]),
                pixel_spacing=_floats(r["pixel_spacing"]),
                frames=_int(r["number_of_frames"]),
            )
            for r in records
        ]
    )
    moments = [
        m
        for r in records
        if (
            m := acquisition_datetime(
                r["acquisition_datetime"], r["acquisition_date"], r["acquisition_time"]
            )
        )
        is not None
    ]
    out = {
        "series_instance_uid": [records[0]["series_instance_uid"]],
        "frame_count": [sum(_int(r["number_of_frames"]) or 1 for r in records)],
        "first_acquisition": pd.Series([min(moments, default=None)], dtype="datetime64[us]"),
        "last_acquisition": pd.Series([max(moments, default=None)], dtype="datetime64[us]"),
        "orientation_count": [geometry.orientation_count],
        "single_orientation": [geometry.orientation_count == 1],
        "image_orientation": [list(geometry.orientation) if geometry.orientation else None],
        "slice_spacing_min": [geometry.slice_spacing_min],
        "slice_spacing_mean": [geometry.slice_spacing_mean],
        "slice_spacing_max": [geometry.slice_spacing_max],
        "duplicate_positions": [geometry.duplicate_positions],
        "missing_positions": pd.array([geometry.missing_positions], dtype="Int32"),
        "is_regular_volume": [geometry.is_regular_volume],
    }
    return pd.DataFrame(out)


def _floats(value: Any) -> tuple[float, ...] | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    return tuple(float(v) for v in value)


def _int(value: Any) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


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


def update_gold(
    spark: SparkSession,
    lake_uri: str,
    table: GoldTable,
    *,
    options: StorageOptions | None = None,
) -> GoldUpdate:
    """Bring ``series`` or ``studies`` in line with the current ``metadata`` in at most
    one commit: a MERGE over the UIDs touched since the last update (or all of them)."""
    key = GOLD_KEYS[table]
    source_uri, target_uri = table_uri(lake_uri, SOURCE), table_uri(lake_uri, table)
    version = table_version_of(source_uri, options)
    consumed = transaction_version(target_uri, app_id_of(table), options)
    if version < 0 or (consumed is not None and consumed >= version):
        reflected = consumed if consumed is not None else -1
        return GoldUpdate(None, "none", 0, reflected, _row_count(target_uri, options))
    metadata = read_table_uri(spark, source_uri, METADATA, options=options, version=version)
    touched = (
        None
        if consumed is None
        else _touched(spark, source_uri, key, (consumed + 1, version), options)
    )
    mode: Literal["incremental", "full"] = "incremental"
    if touched is None:
        mode = "full"
        held = read_table_uri(spark, target_uri, TABLES[table], options=options).select(key)
        touched = (
            metadata.select(key)
            .unionByName(held)
            .where(fn.col(key).isNotNull())
            .distinct()
            .localCheckpoint()
        )
    catalog_uri = table_uri(lake_uri, "object_catalog")
    catalog = read_table_uri(spark, catalog_uri, OBJECT_CATALOG, options=options)
    instances = instance_fields(metadata.join(touched, key, "left_semi"), catalog)
    build = series_rows if table == "series" else study_rows
    rows = build(instances, version=version).localCheckpoint()
    commit = merge_by_key(
        rows,
        touched,
        target_uri,
        table,
        key=key,
        txn=(app_id_of(table), version),
        options=options,
    )
    return GoldUpdate(commit, mode, touched.count(), version, _row_count(target_uri, options))
