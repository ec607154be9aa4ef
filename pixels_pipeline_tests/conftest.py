"""Shared fixtures: real DICOM files, one local Spark session, drops in a landing zone."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

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

    # One session serves the whole suite and opens hundreds of short-lived tables: keep
    # fewer Delta logs (and their cached snapshots) alive than Delta's default 10,000.
    conf = {"spark.ui.enabled": "false", "spark.databricks.delta.delta.log.cacheSize": "32"}
    session = get_spark(SparkSettings(master="local[2]", conf=conf))
    yield session
    session.stop()


@pytest.fixture(scope="session")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A landing zone holding one complete drop of every pydicom test file."""
    root = tmp_path_factory.mktemp("landing")
    copy_tree_drop(root, TEST_FILES_DROP, pydicom_test_files())
    return root


def materialize_drop(
    assets: Sequence[Any],
    drop_id: str,
    landing: Path,
    lake: Path,
    *,
    instance: Any = None,
    run_config: dict[str, Any] | None = None,
) -> Any:
    """A real in-process Dagster run of ``assets`` for one drop, sharing the test session's
    Spark (the resource does not stop it)."""
    from dagster import DagsterInstance, materialize

    from pixels_pipeline.resources import LakeResource, SparkResource

    inst = instance or DagsterInstance.ephemeral()
    if drop_id not in inst.get_dynamic_partitions("drops"):
        inst.add_dynamic_partitions("drops", [drop_id])
    return materialize(
        list(assets),
        partition_key=drop_id,
        instance=inst,
        resources={
            "spark": SparkResource(master="local[2]", stop_at_teardown=False),
            "lake": LakeResource(landing=str(landing), lake=str(lake)),
        },
        run_config=run_config,
    )
