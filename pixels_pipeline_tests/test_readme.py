"""The README's notebook example and gold-table queries are run, so they cannot rot."""

import contextlib
import io
import os
import re
from pathlib import Path
from typing import Any

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def notebook_example() -> str:
    text = README.read_text()
    match = re.search(r"<!-- notebook-example -->\s*```python\n(.*?)```", text, re.S)
    assert match is not None, "README lost its notebook example"
    return match.group(1)


def test_example_has_at_most_ten_lines() -> None:
    lines = [line for line in notebook_example().splitlines() if line.strip()]
    assert len(lines) <= 10


@pytest.mark.spark
def test_notebook_example_runs(spark: object, tmp_path: Path) -> None:
    out = io.StringIO()
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(notebook_example(), "README.md", "exec"), {})
    finally:
        os.chdir(cwd)
    printed = out.getvalue()
    assert "|modality|images|" in printed.replace(" ", "")
    counts = dict(re.findall(r"\|\s*([A-Z]{2})\s*\|\s*(\d+)\|", printed))
    assert int(counts["MR"]) >= 10 and int(counts["CT"]) >= 5
    assert (tmp_path / "var" / "demo_lake" / "thumbnails" / "_delta_log").is_dir()


GOLD_DROPS = ("sample-ct-mr", "sample-compressed")


def gold_queries() -> tuple[str, str]:
    """The README's gold-table queries and the output it shows for them."""
    text = README.read_text()
    match = re.search(
        r"<!-- gold-queries -->\s*```python\n(.*?)```\s*```text\n(.*?)```", text, re.S
    )
    assert match is not None, "README lost its gold-table queries"
    return match.group(1), match.group(2)


def run_gold_queries(spark: Any, workdir: Path) -> str:
    """Ingest the two sample drops through the api, update the gold tables, run the
    README's queries; returns what they print."""
    from pixels_pipeline import api
    from pixels_pipeline.samples import SAMPLE_DROPS, copy_drop, find_test_file

    landing, lake = workdir / "landing", str(workdir / "lake")
    for drop_id in GOLD_DROPS:
        files = [p for p in map(find_test_file, SAMPLE_DROPS[drop_id]) if p is not None]
        copy_drop(landing, drop_id, files)
        api.update_catalog(spark, lake, [api.Drop(drop_id, str(landing / drop_id), None)])
        api.update_table(
            spark,
            lake,
            "metadata",
            lambda c, n: api.metadata_rows(c, num_files=n),
            drop_ids=[drop_id],
        )
    for table in ("series", "studies"):
        api.update_gold_table(spark, lake, table)
    api.register_tables(spark, lake)
    code, _ = gold_queries()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {"spark": spark})
    return out.getvalue()


@pytest.mark.spark
def test_gold_queries_print_what_readme_shows(spark: object, tmp_path: Path) -> None:
    _, shown = gold_queries()
    assert run_gold_queries(spark, tmp_path).strip() == shown.strip()
