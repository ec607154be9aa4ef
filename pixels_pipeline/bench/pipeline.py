"""The pipeline's side of the benchmark: its stage functions through Spark, and the whole
drop through Dagster.

Stages run exactly as the assets run them: read the drop's ``object_catalog`` rows as the
assets do (``api.read_drops``: on the driver up to 20,000 rows, else a Delta scan), build
the stage's rows with ``api`` (``metadata_rows``, ``thumbnail_rows``, ``patch_rows`` with the
``patches`` asset's default settings: computed inside the writer's tasks), and write them
with ``api.write_table``. Writing the Delta table is what forces every UDF row to be
computed (a ``count()`` could let Spark prune the unused output columns, and with them
the work).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

from pixels_pipeline import api
from pixels_pipeline.bench.baseline import PATCH_MIN_FOREGROUND, PATCH_SIZE
from pixels_pipeline.bench.measure import Measurement, measure

SPARK_CONF = {"spark.ui.enabled": "false"}


@dataclass(frozen=True)
class StageRun:
    """One pipeline stage: its cost, rows written and error rows; ``files``: the files it
    processed (the rows, except for ``patches``: one row per tile)."""

    measurement: Measurement
    rows: int
    errors: int
    files: int | None = None


def start_spark() -> SparkSession:
    """The session the stages share (started outside the timed stages)."""
    return api.get_spark(api.SparkSettings(conf=SPARK_CONF))


def _session() -> SparkSession | None:
    """This process's session: the thread's active one, else the one a run started (its
    steps run in threads of their own, where the session they start is active)."""
    return SparkSession.getActiveSession() or SparkSession._instantiatedSession


def jvm_pids() -> frozenset[int]:
    """The local JVM of the session (with its Python workers below it), if any."""
    active = _session()
    proc = None if active is None else getattr(active.sparkContext._gateway, "proc", None)
    return frozenset() if proc is None else frozenset({proc.pid})


def stop_spark() -> None:
    """Stop the session so the end-to-end run starts (and pays for) its own."""
    active = _session()
    if active is not None:
        active.stop()


def write_catalog(
    spark: SparkSession, drop_dir: Path, lake: Path, drop_id: str, *, exclude: frozenset[int]
) -> StageRun:
    """``object_catalog`` for the drop (the input of every other stage)."""
    with measure(exclude) as m:
        commit = api.write_table(
            api.catalog(spark, str(drop_dir), drop_id=drop_id),
            str(lake),
            "object_catalog",
            drop_ids=[drop_id],
        )
    return StageRun(m, commit.rows, _errors(spark, lake, "object_catalog", drop_id))


def run_stage(
    spark: SparkSession, lake: Path, drop_id: str, table: str, *, exclude: frozenset[int]
) -> StageRun:
    """One silver stage (``metadata``, ``thumbnails`` or ``patches``) from the Delta
    catalog to Delta; ``exclude``: processes not to measure (the idle baseline pool)."""
    build = _BUILDERS[table]
    lake_uri = str(lake)
    n = sum(api.count_rows(lake_uri, "object_catalog", [drop_id]).values())
    with measure(exclude) as m:
        catalog = api.read_drops(spark, lake_uri, "object_catalog", [drop_id])
        commit = api.write_table(build(catalog, n), lake_uri, table, drop_ids=[drop_id])
    m.extra["rows"] = commit.rows
    files = n if table == "patches" else None  # patches: a row per tile, not per file
    return StageRun(m, commit.rows, _errors(spark, lake, table, drop_id), files=files)


def has_thumbnails() -> bool:
    """Whether this version of the API renders thumbnails."""
    return hasattr(api, "thumbnail_rows")


def _metadata(catalog: DataFrame, n: int) -> api.Rows:
    return api.metadata_rows(catalog, num_files=n)


def _thumbnails(catalog: DataFrame, n: int) -> api.Rows:
    rows: Callable[..., api.Rows] = api.thumbnail_rows
    return rows(catalog, max_size=256, num_files=n)


def _patches(catalog: DataFrame, n: int) -> api.Rows:
    # The patches asset's defaults (PatchesConfig); its pixel budget is PixelBudget's.
    settings = api.PatchSettings(size=PATCH_SIZE, min_foreground=PATCH_MIN_FOREGROUND)
    return api.patch_rows(catalog, settings=settings, num_files=n)


_BUILDERS: dict[str, Callable[[DataFrame, int], api.Rows]] = {
    "metadata": _metadata,
    "thumbnails": _thumbnails,
    "patches": _patches,
}


def _errors(spark: SparkSession, lake: Path, table: str, drop_id: str) -> int:
    df = api.read_table(spark, str(lake), table, drop_ids=[drop_id])
    return int(df.where("error_type IS NOT NULL").count())


def run_end_to_end(
    landing: Path,
    lake: Path,
    drop_id: str,
    *,
    exclude: frozenset[int],
    assets: Sequence[str] | None = None,
) -> StageRun:
    """Run the ``ingest`` job (all its assets, or those named in ``assets``) for the
    drop's partition in one Dagster run with the job's executor, Spark start included
    (the caller stops any running session first).

    The session is stopped after the measurement: a JVM that exits inside it could be
    reaped too late for its CPU time to be counted.
    """
    from dagster import DagsterInstance

    from pixels_pipeline.bench.ingest_run import run_ingest
    from pixels_pipeline.resources import LakeResource, SparkResource

    resources = {
        "spark": SparkResource(spark_config=SPARK_CONF, stop_at_teardown=False),
        "lake": LakeResource(landing=str(landing), lake=str(lake)),
    }
    with DagsterInstance.ephemeral() as instance, measure(exclude) as m:
        instance.add_dynamic_partitions("drops", [drop_id])
        result = run_ingest(instance, resources, [drop_id], assets=assets)
    stop_spark()
    if not result.success:
        raise RuntimeError("the end-to-end Dagster run failed")
    durations: dict[str, object] = {}
    rows = 0
    for event in result.get_asset_materialization_events():
        mat = event.step_materialization_data.materialization
        name = mat.asset_key.to_user_string()
        meta = mat.metadata
        durations[name] = getattr(meta.get("duration_s"), "value", None)
        if name == "object_catalog":
            rows = int(getattr(meta.get("files"), "value", 0) or 0)
    m.extra["assets"] = sorted(durations)
    m.extra["asset_seconds"] = durations
    return StageRun(m, rows, 0)
