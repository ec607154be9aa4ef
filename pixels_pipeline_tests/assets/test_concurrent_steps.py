"""The ``ingest`` job as a launched run executes it, on an instance configured by the
shipped ``dagster.yaml`` (each table's lake-write pool limited to 1): silver steps at the
same time on one Spark session, first as partition overwrites, then (late files) as ``MERGE``s whose
transaction ids are session settings, which must not leak from one table's step to
another's."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import deltalake
import pytest
from dagster import DagsterEventType, DagsterInstance

from pixels_pipeline.bench.corpus import add_late_files, build_corpus
from pixels_pipeline.bench.ingest_run import run_ingest
from pixels_pipeline.jobs import INGEST_ASSETS
from pixels_pipeline.resources import LakeResource, SparkResource

pytestmark = [pytest.mark.spark, pytest.mark.dagster]

ROOT = Path(__file__).resolve().parents[2]
DROP = "concurrent-steps"
SILVER = ("metadata", "thumbnails", "patches")


def _newest_txn(table_dir: Path) -> dict[str, object]:
    """The ``txn`` action (Delta's app transaction) of the table's newest commit."""
    newest = max((table_dir / "_delta_log").glob("*.json"))
    actions = [json.loads(line) for line in newest.read_text().splitlines() if line]
    return next(a["txn"] for a in actions if "txn" in a)


def _rows(lake: Path, table: str) -> list[dict[str, object]]:
    data = deltalake.DeltaTable(str(lake / table)).to_pyarrow_table()
    return data.select(["row_id", "path"]).to_pylist()


@pytest.fixture
def shipped_instance(tmp_path: Path) -> Iterator[DagsterInstance]:
    """An instance configured by the shipped ``dagster.yaml`` (its pools included)."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    with DagsterInstance.from_config(str(home)) as instance:
        yield instance


def test_silver_steps_run_together_and_merge_with_their_own_transactions(
    spark: object, tmp_path: Path, shipped_instance: DagsterInstance
) -> None:
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    corpus = build_corpus(landing / DROP, 8)
    instance = shipped_instance
    instance.add_dynamic_partitions("drops", [DROP])
    resources = {
        "spark": SparkResource(master="local[2]", stop_at_teardown=False),
        "lake": LakeResource(landing=str(landing), lake=str(lake)),
    }

    first = run_ingest(instance, resources, [DROP])
    assert first.success
    events = list(first.all_events)
    kinds = [(e.event_type, e.step_key) for e in events]
    # every silver step started before any of them finished: they ran at the same time
    first_silver_done = min(
        i for i, (k, s) in enumerate(kinds) if k == DagsterEventType.STEP_SUCCESS and s in SILVER
    )
    for step in SILVER:
        assert kinds.index((DagsterEventType.STEP_START, step)) < first_silver_done
    done = {s for k, s in kinds if k == DagsterEventType.STEP_SUCCESS}
    assert done == set(INGEST_ASSETS)
    for table in ("metadata", "thumbnails"):
        assert len(_rows(lake, table)) == 8

    late = add_late_files(corpus, 2)
    again = run_ingest(instance, resources, [DROP])
    assert again.success
    for table in ("object_catalog", "metadata", "thumbnails"):
        rows = _rows(lake, table)
        assert len(rows) == 10, table
        assert len({r["path"] for r in rows}) == 10, table
    paths = [str(r["path"]) for r in _rows(lake, "metadata")]
    for added in late:
        assert any(p.endswith(added.relative_to(landing).as_posix()) for p in paths)
    # each table's MERGE committed under its own step's transaction id
    for table in SILVER:
        txn = _newest_txn(lake / table)
        assert str(txn["appId"]).startswith(f"pixels_pipeline:{table}:{again.run_id}:"), table
