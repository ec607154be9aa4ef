"""Shared fixtures: real DICOM files, one local Spark session, drops in a landing zone."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pixels_pipeline.samples import copy_tree_drop, pydicom_test_files

TEST_FILES_DROP = "pydicom-test-files"


def all_test_files() -> list[Path]:
    """Every file of pydicom's bundled test_files folder, sub-folders included."""
    root = pydicom_test_files()
    return sorted(
        Path(d) / f for d, _, files in os.walk(root) if "__pycache__" not in d for f in files
    )


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    from pixels_pipeline.spark.session import SparkSettings, get_spark

    session = get_spark(SparkSettings(master="local[2]", conf={"spark.ui.enabled": "false"}))
    yield session
    session.stop()


@pytest.fixture(scope="session")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A landing zone holding one complete drop of every pydicom test file."""
    root = tmp_path_factory.mktemp("landing")
    copy_tree_drop(root, TEST_FILES_DROP, pydicom_test_files())
    return root
