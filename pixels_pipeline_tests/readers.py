"""The three independent Delta readers every table must stay readable by."""

from __future__ import annotations

import glob
import os

import deltalake
import duckdb
import polars as pl


def duckdb_connection() -> duckdb.DuckDBPyConnection:
    """duckdb with its delta extension (delta-kernel) loaded from the PyPI wheel."""
    import duckdb_extension_delta

    folder = os.path.dirname(duckdb_extension_delta.__file__)
    (path,) = glob.glob(f"{folder}/extensions/*/delta.duckdb_extension")
    con = duckdb.connect()
    con.execute(f"LOAD '{path}'")
    return con


def keys_by_reader(uri: str, key: str = "row_id") -> dict[str, list[str]]:
    """Sorted ``key`` values of the table as delta-rs, polars and duckdb read it."""
    rs = deltalake.DeltaTable(uri).to_pyarrow_table(columns=[key]).column(key).to_pylist()
    pol = pl.read_delta(uri, columns=[key])[key].to_list()
    duck = [
        r[0]
        for r in duckdb_connection().execute(f"SELECT {key} FROM delta_scan('{uri}')").fetchall()
    ]
    return {"delta-rs": sorted(rs), "polars": sorted(pol), "duckdb": sorted(duck)}
