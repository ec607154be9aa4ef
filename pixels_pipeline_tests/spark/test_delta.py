"""The Delta writer/reader on real Spark and real Delta tables, read back by other engines."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import deltalake
import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession

from pixels_pipeline.spark.delta_reader import partition_row_counts, read_table_uri
from pixels_pipeline.spark.delta_writer import write_partitions
from pixels_pipeline.spark.mapped import MappedRows
from pixels_pipeline.spark.schemas import METADATA, spark_schema

pytestmark = pytest.mark.spark


def rows(drop_id: str, n: int, *, tag: str = "") -> list[dict[str, Any]]:
    base = dict.fromkeys(METADATA.names)
    return [
        {
            **base,
            "row_id": f"{drop_id}-{i}",
            "path": f"/x/{drop_id}/{i}{tag}",
            "drop_id": drop_id,
            "rows": i,
            "modality": "CT",
        }
        for i in range(n)
    ]


def frame(spark: SparkSession, data: list[dict[str, Any]]) -> Any:
    return spark.createDataFrame(
        pa.Table.from_pylist(data, schema=METADATA).to_pandas(), spark_schema(METADATA)
    )


def test_replace_partition_keeps_other_partitions(spark: SparkSession, tmp_path: Path) -> None:
    uri = str(tmp_path / "metadata")
    write_partitions(frame(spark, rows("a", 5)), uri, METADATA, drop_ids=["a"])
    write_partitions(frame(spark, rows("b", 3)), uri, METADATA, drop_ids=["b"])
    result = write_partitions(frame(spark, rows("a", 2, tag="new")), uri, METADATA, drop_ids=["a"])
    assert result.rows == 2 and not result.skipped
    table = deltalake.DeltaTable(uri)
    assert table.version() == result.version == 2
    data = table.to_pyarrow_table().sort_by("path")
    assert data.num_rows == 5
    assert sorted(p for p in data.column("path").to_pylist() if "/a/" in p) == [
        "/x/a/0new",
        "/x/a/1new",
    ]
    assert partition_row_counts(uri, ["a", "b", "c"]) == {"a": 2, "b": 3, "c": 0}
    # Older versions stay readable (time travel).
    assert deltalake.DeltaTable(uri, version=1).to_pyarrow_table().num_rows == 8


def test_empty_frame_empties_the_partition(spark: SparkSession, tmp_path: Path) -> None:
    uri = str(tmp_path / "metadata")
    write_partitions(frame(spark, rows("a", 4)), uri, METADATA, drop_ids=["a"])
    write_partitions(frame(spark, []), uri, METADATA, drop_ids=["a"])
    assert deltalake.DeltaTable(uri).to_pyarrow_table().num_rows == 0


def test_same_app_id_commits_once(spark: SparkSession, tmp_path: Path) -> None:
    uri = str(tmp_path / "metadata")
    first = write_partitions(
        frame(spark, rows("a", 3)), uri, METADATA, drop_ids=["a"], app_id="run-1"
    )
    again = write_partitions(
        frame(spark, rows("a", 7)), uri, METADATA, drop_ids=["a"], app_id="run-1"
    )
    assert again.skipped and again.version == first.version
    table = deltalake.DeltaTable(uri)
    assert table.transaction_version("run-1") == 1
    assert table.to_pyarrow_table().num_rows == 3


def test_rows_outside_the_named_partitions_are_refused(spark: SparkSession, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="outside"):
        write_partitions(frame(spark, rows("b", 1)), str(tmp_path / "t"), METADATA, drop_ids=["a"])
    assert not deltalake.DeltaTable.is_deltatable(str(tmp_path / "t"))


def test_standard_delta_read_by_spark_polars_and_duckdb(
    spark: SparkSession, tmp_path: Path
) -> None:
    uri = str(tmp_path / "metadata")
    write_partitions(frame(spark, rows("a", 4) + rows("b", 2)), uri, METADATA, drop_ids=["a", "b"])
    write_partitions(frame(spark, rows("a", 1)), uri, METADATA, drop_ids=["a"])
    df = read_table_uri(spark, uri, METADATA)
    assert df.count() == 3
    assert df.columns == METADATA.names
    assert {r["drop_id"]: r["count"] for r in df.groupBy("drop_id").count().collect()} == {
        "a": 1,
        "b": 2,
    }
    assert read_table_uri(spark, uri, METADATA, drop_ids=["b"]).count() == 2
    assert pl.read_delta(uri).height == 3
    # duckdb's delta extension is downloaded at run time (no network here): read the
    # Delta log's active files, as any Delta reader does.
    parquet_files = deltalake.DeltaTable(uri).file_uris()
    count = duckdb.connect().execute(f"SELECT count(*) FROM read_parquet({parquet_files!r})")
    assert count.fetchone() == (3,)
    schema = deltalake.DeltaTable(uri).schema().to_arrow()
    assert schema.field("study_date").type == pa.date32()
    assert deltalake.DeltaTable(uri).metadata().partition_columns == ["drop_id"]


def test_partial_write_is_invisible_until_commit(spark: SparkSession, tmp_path: Path) -> None:
    uri = str(tmp_path / "metadata")
    write_partitions(frame(spark, rows("a", 2)), uri, METADATA, drop_ids=["a"])
    # A crashed writer leaves an orphan data file behind: readers must not see it.
    orphan = Path(uri) / "drop_id=a" / "part-orphan.zstd.parquet"
    pq.write_table(
        pa.Table.from_pylist(rows("a", 9), schema=METADATA).drop_columns(["drop_id"]), orphan
    )
    assert read_table_uri(spark, uri, METADATA).count() == 2
    assert deltalake.DeltaTable(uri).to_pyarrow_table().num_rows == 2


def _relabel(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """A UDF: each row's modality becomes ``mapped-<rows>``."""
    for batch in batches:
        table = pa.Table.from_batches([batch])
        label = pc.binary_join_element_wise("mapped-", pc.cast(table["rows"], pa.string()), "")
        table = table.set_column(table.schema.get_field_index("modality"), "modality", label)
        yield from table.to_batches()


def test_mapped_rows_write_what_their_dataframe_holds(spark: SparkSession, tmp_path: Path) -> None:
    """MappedRows (UDF run inside the writer's tasks) write the rows their DataFrame
    holds; a list of parts is written in one commit."""
    uri = str(tmp_path / "metadata")
    mapped = MappedRows(frame(spark, rows("a", 40)).repartition(4), _relabel, METADATA)
    expected = sorted((r["path"], r["modality"]) for r in mapped.to_dataframe().collect())
    assert expected[0] == ("/x/a/0", "mapped-0")
    result = write_partitions([frame(spark, rows("b", 3)), mapped], uri, METADATA)
    assert (result.version, result.rows) == (0, 43)
    table = deltalake.DeltaTable(uri).to_pyarrow_table()
    by_drop = {
        d: sorted(
            zip(
                *(
                    table.filter(pc.equal(table["drop_id"], d))[c].to_pylist()
                    for c in ("path", "modality")
                ),
                strict=True,
            )
        )
        for d in ("a", "b")
    }
    assert by_drop["a"] == expected
    assert [m for _, m in by_drop["b"]] == ["CT"] * 3
