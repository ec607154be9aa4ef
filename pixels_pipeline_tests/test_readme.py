"""The README's notebook example is extracted and run, so it cannot rot."""

import contextlib
import io
import os
import re
from pathlib import Path

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
