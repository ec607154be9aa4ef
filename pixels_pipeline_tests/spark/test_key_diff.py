"""The driver-side plan of an incremental update: pure set operations on key columns."""

import pyarrow as pa
from pyspark.sql import SparkSession

from pixels_pipeline.dicom.errors import ErrorType
from pixels_pipeline.spark.key_diff import KEYS, diff_keys, rows_of_keys, rows_with_keys


def keys(
    rows: list[tuple[str, str | None, str]], errors: list[str | None] | None = None
) -> pa.Table:
    table = pa.table({k: [r[i] for r in rows] for i, k in enumerate(KEYS)})
    if errors is not None:
        table = table.append_column("error_type", pa.array(errors, pa.string()))
    return table


def as_set(table: pa.Table) -> set[tuple[str, ...]]:
    return set(zip(*(table.column(k).to_pylist() for k in KEYS), strict=True))


def test_added_changed_deleted_and_transient_files() -> None:
    held = keys(
        [
            ("d", "same", "1"),
            ("d", "tiles", "1"),  # two rows of one file (patches)
            ("d", "tiles", "1"),
            ("d", "changed", "1"),
            ("d", "deleted", "1"),
            ("d", "io", "1"),  # transient: computed again, old row goes
            ("d", "bad", "1"),  # deterministic error: kept
        ],
        [None, None, None, None, None, ErrorType.READ_ERROR.value, ErrorType.NOT_DICOM.value],
    )
    current = keys(
        [
            ("d", "same", "1"),
            ("d", "tiles", "1"),
            ("d", "changed", "2"),
            ("d", "io", "1"),
            ("d", "bad", "1"),
            ("d", "added", "1"),
        ]
    )
    diff = diff_keys(held, current)
    assert diff is not None
    assert as_set(diff.todo) == {("d", "changed", "2"), ("d", "io", "1"), ("d", "added", "1")}
    assert as_set(diff.gone) == {("d", "changed", "1"), ("d", "deleted", "1"), ("d", "io", "1")}
    assert diff.removed == 3


def test_only_added_files_remove_nothing_and_nothing_changed_is_empty() -> None:
    held = keys([("d", "a", "1")], [None])
    added = diff_keys(held, keys([("d", "a", "1"), ("d", "b", "1")]))
    assert added is not None
    assert as_set(added.todo) == {("d", "b", "1")} and added.gone.num_rows == 0
    same = diff_keys(held, keys([("d", "a", "1")]))
    assert same is not None and same.todo.num_rows == same.gone.num_rows == same.removed == 0


def test_a_null_key_is_left_to_spark() -> None:
    held = keys([("d", None, "1")], [None])
    assert diff_keys(held, keys([("d", "a", "1")])) is None


def test_rows_are_picked_on_the_driver_as_spark_picks_them(spark: SparkSession) -> None:
    rows = keys(
        [
            ("d", "a", "1"),
            ("d", "a", "2"),  # same file, other fingerprint: not wanted
            ("d", "b", "1"),
            ("d", "b", "1"),  # two rows of one file: both wanted
            ("e", "a", "1"),  # same file id in another drop: not wanted
            ("d", "c", "1"),
            ("d", None, "1"),  # a null key matches nothing
        ]
    ).append_column("size", pa.array(range(7), pa.int64()))
    wanted = keys([("d", "a", "1"), ("d", "b", "1"), ("d", "zz", "1")])
    picked = rows_of_keys(rows, wanted)
    by_spark = rows_with_keys(spark.createDataFrame(rows.to_pandas()), wanted).toArrow()
    assert sorted(picked.column("size").to_pylist()) == [0, 2, 3]
    assert sorted(by_spark.column("size").to_pylist()) == [0, 2, 3]
    assert rows_of_keys(rows, keys([])).num_rows == 0
    with_null = keys([("d", "a", "1"), ("d", None, "1")])
    assert sorted(rows_of_keys(rows, with_null).column("size").to_pylist()) == [0]
