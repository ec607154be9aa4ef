"""What every table asset records: counts, errors by type, version, duration, files/s."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from dagster import AssetExecutionContext, MetadataValue
from pyspark.sql import DataFrame, SparkSession

from pixels_pipeline.api import CommitResult
from pixels_pipeline.spark.progress import report_progress


def app_id(context: AssetExecutionContext, table: str, drop_ids: Sequence[str]) -> str:
    """Idempotency token of one table write in one run: a retried step commits once."""
    digest = hashlib.sha256(",".join(sorted(drop_ids)).encode()).hexdigest()[:16]
    return f"pixels_pipeline:{table}:{context.run_id}:{digest}"


def errors_by_type(df: DataFrame) -> dict[str, int]:
    """Rows per ``error_type`` (successes excluded) of a table's rows."""
    counts = df.where("error_type IS NOT NULL").groupBy("error_type").count().collect()
    return {r["error_type"]: int(r["count"]) for r in sorted(counts, key=lambda r: r[0])}


@dataclass
class StageTimer:
    started: float = field(default_factory=time.perf_counter)

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started


@contextmanager
def timed_stage(
    context: AssetExecutionContext, spark: SparkSession, label: str
) -> Iterator[StageTimer]:
    """Time a stage and log Spark progress to the run log while it runs."""
    timer = StageTimer()
    with report_progress(spark, context.log.info, label=label):
        yield timer


def materialization_metadata(
    *,
    drop_ids: Sequence[str],
    files: int,
    commit: CommitResult,
    errors: dict[str, int],
    seconds: float,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "drops": MetadataValue.text(", ".join(drop_ids)),
        "files": MetadataValue.int(files),
        "rows_written": MetadataValue.int(commit.rows),
        "data_files": MetadataValue.int(commit.files),
        "errors": MetadataValue.int(sum(errors.values())),
        "errors_by_type": MetadataValue.json(errors),
        "table_version": MetadataValue.int(commit.version),
        "commit_skipped": MetadataValue.bool(commit.skipped),
        "duration_s": MetadataValue.float(round(seconds, 3)),
        "files_per_s": MetadataValue.float(round(files / seconds, 2) if seconds > 0 else 0.0),
        **(extra or {}),
    }
