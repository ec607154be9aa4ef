"""The Delta writer/reader on real Spark and real Delta tables, read back by other engines."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import deltalake
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from pyspark.sql import DataFrame, SparkSession

from pixels_pipeline.spark.delta_reader import partition_row_counts, read_table_uri
from pixels_pipeline.spark.delta_tables import register_tables
from pixels_pipeline.spark.delta_writer import merge_partitions, replace_partitions
from pixels_pipeline.spark.maintenance import changes, history
from pixels_pipeline.spark.mapped import MappedRows
from pixels_pipeline.spark.schemas import METADATA, spark_schema

from ..readers import keys_by_reader

pytestmark = pytest.mark.spark


def rows(drop_id: str, n: int, *, tag: str = "", start: int = 0) -> list[dict[str, Any]]:
    base = dict.fromkeys(METADATA.names)
    return [
        {
            **base,
            "row_id": f"{drop_id}-{i}",
            "path": f"/x/{drop_id}/{i}{tag}",
            "drop_id": drop_id,
            "fingerprint": f"f{tag}",
            "rows": i,
            "modality": "CT",
        }
        for i in range(start, start + n)
    ]


def frame(spark: SparkSession, data: list[dict[str, Any]]) -> DataFrame:
    return spark.createDataFrame(
        pa.Table.from_pylist(data, schema=METADATA).to_pandas(), spark_schema(METADATA)
    )


def engines(uri: str) -> set[str]:
    return {str(c.get("engineInfo")) for c in deltalake.DeltaTable(uri).history()}


def test_replace_partition_keeps_other_partitions(spark: SparkSession, tmp_path: Path) -> None:
    uri = str(tmp_path / "metadata")
    replace_partitions(frame(spark, rows("a", 5)), uri, "metadata", drop_ids=["a"])
    replace_partitions(frame(spark, rows("b", 3)), uri, "metadata", drop_ids=["b"])
    result = replace_partitions(
        frame(spark, rows("a", 2, tag="new")), uri, "metadata", drop_ids=["a"]
    )
    assert (result.rows, result.operation, result.skipped) == (2, "WRITE", False)
    assert deltalake.DeltaTable(uri).version() == result.version
    data = read_table_uri(spark, uri, METADATA).collect()
    assert len(data) == 5
    assert sorted(r["path"] for r in data if r["drop_id"] == "a") == ["/x/a/0new", "/x/a/1new"]
    assert partition_row_counts(uri, ["a", "b", "c"]) == {"a": 2, "b": 3, "c": 0}
    # Time travel through Spark: the version before the overwrite had both drops in full.
    before = read_table_uri(spark, uri, METADATA, version=result.version - 1)
    assert before.count() == 8
    # Only Spark's Delta writer ever committed (table creation included).
    assert all("Delta-Lake/" in e and "Apache-Spark" in e for e in engines(uri))


def test_empty_frame_empties_the_partition(spark: SparkSession, tmp_path: Path) -> None:
    uri = str(tmp_path / "metadata")
    replace_partitions(frame(spark, rows("a", 4)), uri, "metadata", drop_ids=["a"])
    replace_partitions(frame(spark, []), uri, "metadata", drop_ids=["a"])
    assert deltalake.DeltaTable(uri).to_pyarrow_table().num_rows == 0


def test_same_app_id_commits_once(spark: SparkSession, tmp_path: Path) -> None:
    uri = str(tmp_path / "metadata")
    first = replace_partitions(
        frame(spark, rows("a", 3)), uri, "metadata", drop_ids=["a"], app_id="run-1"
    )
    again = replace_partitions(
        frame(spark, rows("a", 7)), uri, "metadata", drop_ids=["a"], app_id="run-1"
    )
    assert again.skipped and again.version == first.version
    table = deltalake.DeltaTable(uri)
    assert table.transaction_version("run-1") == 1
    assert table.to_pyarrow_table().num_rows == 3
    # The same for MERGE (Delta's session confs): a retried merge changes nothing.
    new, gone = frame(spark, rows("a", 2, start=3)), frame(spark, [])
    merged = merge_partitions(
        new, gone, uri, "metadata", drop_ids=["a"], key=["row_id", "fingerprint"], app_id="run-2"
    )
    retried = merge_partitions(
        new, gone, uri, "metadata", drop_ids=["a"], key=["row_id", "fingerprint"], app_id="run-2"
    )
    assert retried.skipped and retried.version == merged.version
    assert deltalake.DeltaTable(uri).to_pyarrow_table().num_rows == 5
    assert spark.conf.get("spark.databricks.delta.write.txnAppId", None) is None


def test_rows_outside_the_named_partitions_are_refused(spark: SparkSession, tmp_path: Path) -> None:
    uri = str(tmp_path / "metadata")
    replace_partitions(frame(spark, rows("a", 2)), uri, "metadata", drop_ids=["a"])
    with pytest.raises(Exception, match=r"(?i)replaceWhere|DELTA_REPLACE_WHERE"):
        replace_partitions(frame(spark, rows("b", 1)), uri, "metadata", drop_ids=["a"])
    assert deltalake.DeltaTable(uri).to_pyarrow_table().num_rows == 2


def test_merge_rewrites_only_affected_files(spark: SparkSession, tmp_path: Path) -> None:
    """A MERGE inserts new keys, deletes keys missing from the source in the named drops,
    leaves other drops' files alone, and feeds the Change Data Feed."""
    uri = str(tmp_path / "metadata")
    replace_partitions(frame(spark, rows("a", 6)), uri, "metadata", drop_ids=["a"])
    replace_partitions(frame(spark, rows("b", 3)), uri, "metadata", drop_ids=["b"])
    files_before = set(deltalake.DeltaTable(uri).file_uris())
    base = deltalake.DeltaTable(uri).version()
    keys = ["row_id", "fingerprint"]
    # drop a now: files 0..3 unchanged, 4 and 5 gone, 6 and 7 new.
    new = frame(spark, rows("a", 2, start=6))
    gone = frame(spark, rows("a", 2, start=4)).select("drop_id", *keys)
    result = merge_partitions(new, gone, uri, "metadata", drop_ids=["a"], key=keys)
    assert (result.operation, result.rows, result.rows_deleted) == ("MERGE", 2, 2)
    after = {r["row_id"] for r in read_table_uri(spark, uri, METADATA).collect()}
    assert after == {f"a-{i}" for i in (0, 1, 2, 3, 6, 7)} | {"b-0", "b-1", "b-2"}
    files_after = set(deltalake.DeltaTable(uri).file_uris())
    untouched_b = {f for f in files_before if "drop_id=b" in f}
    assert untouched_b <= files_after  # drop b was never rewritten
    feed = changes(spark, uri, starting_version=base + 1).collect()
    kinds = sorted(
        (r["_change_type"], r["row_id"]) for r in feed if r["_change_type"] != "update_preimage"
    )
    assert ("insert", "a-6") in kinds and ("delete", "a-5") in kinds
    assert not any(r["row_id"].startswith("b-") for r in feed)
    # Interop after a MERGE: delta-rs, polars and duckdb all see the same rows.
    readers = keys_by_reader(uri)
    assert readers["delta-rs"] == readers["polars"] == readers["duckdb"] == sorted(after)
    ops = [r["operation"] for r in history(spark, uri).collect()]
    assert ops[0] == "MERGE"


def test_tables_by_name_with_comments(spark: SparkSession, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    replace_partitions(
        frame(spark, rows("a", 2)), str(lake / "metadata"), "metadata", drop_ids=["a"]
    )
    assert register_tables(spark, str(lake)) == ["pixels.metadata"]
    n = spark.sql("SELECT count(*) AS n FROM pixels.metadata WHERE drop_id = 'a'").first()
    assert n is not None and n["n"] == 2
    comments = {
        r["col_name"]: r["comment"] for r in spark.sql("DESCRIBE TABLE pixels.metadata").collect()
    }
    assert comments["study_instance_uid"] == "(0020,000D) Study Instance UID"
    props = dict(spark.sql("SHOW TBLPROPERTIES pixels.metadata").collect())
    assert props["delta.enableChangeDataFeed"] == "true"
    assert props["delta.enableDeletionVectors"] == "false"
    # A second lake re-points the name.
    other = tmp_path / "other"
    replace_partitions(
        frame(spark, rows("z", 3)), str(other / "metadata"), "metadata", drop_ids=["z"]
    )
    register_tables(spark, str(other))
    m = spark.sql("SELECT count(*) AS n FROM pixels.metadata").first()
    assert m is not None and m["n"] == 3


def _relabel(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """A UDF: each row's modality becomes ``mapped-<rows>``."""
    for batch in batches:
        table = pa.Table.from_batches([batch])
        label = pc.binary_join_element_wise("mapped-", pc.cast(table["rows"], pa.string()), "")
        table = table.set_column(table.schema.get_field_index("modality"), "modality", label)
        yield from table.to_batches()


def test_mapped_rows_write_what_their_dataframe_holds(spark: SparkSession, tmp_path: Path) -> None:
    """MappedRows and DataFrames, several parts: one commit of what their DataFrames hold."""
    uri = str(tmp_path / "metadata")
    mapped = MappedRows(frame(spark, rows("a", 40)).repartition(4), _relabel, METADATA)
    expected = sorted((r["path"], r["modality"]) for r in mapped.to_dataframe().collect())
    assert expected[0] == ("/x/a/0", "mapped-0")
    result = replace_partitions(
        [frame(spark, rows("b", 3)), mapped], uri, "metadata", drop_ids=["a", "b"]
    )
    assert result.rows == 43
    got = read_table_uri(spark, uri, METADATA).collect()
    assert sorted((r["path"], r["modality"]) for r in got if r["drop_id"] == "a") == expected
    assert [r["modality"] for r in got if r["drop_id"] == "b"] == ["CT"] * 3
