"""``python -m pixels_pipeline.bench --files N --out result.json``

Builds a drop of N DICOM files, then measures the same work against a plain pool
baseline: the metadata, thumbnails and patches stages through Spark (session already
running), and the whole drop end to end through Dagster (Spark start included) with the
assets that do the baseline's end-to-end work (catalog, metadata, thumbnails). A last
Dagster run with every asset (patches and gold too) is reported on its own, without a
ratio; then 1 % more files arrive in the drop and every asset is
materialized again (``incremental``: its time against the first run's).

``--scale 5000,50000`` adds the scaling section (see :mod:`pixels_pipeline.bench.scale`):
the catalog stage at each N, nested and flat; ``--scale-only`` runs just that.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from pixels_pipeline.bench import latency, pipeline, scale
from pixels_pipeline.bench.baseline import BaselinePool, BaselineRun, Kind
from pixels_pipeline.bench.corpus import add_late_files, build_corpus
from pixels_pipeline.bench.measure import Measurement, measure
from pixels_pipeline.bench.memory import memory_report
from pixels_pipeline.bench.report import Side, load_average, machine, print_table, stage_result
from pixels_pipeline.exit_status import keep_exit_status

DROP_ID = "bench"
SAME_WORK_ASSETS = ("object_catalog", "metadata", "thumbnails")


def _baseline(
    pool: BaselinePool, kind: Kind, paths: Sequence[str]
) -> tuple[Measurement, BaselineRun]:
    with measure(pipeline.jvm_pids()) as m:
        run = pool.run(kind, paths)
    return m, run


def _baseline_side(m: Measurement, run: BaselineRun) -> Side:
    # The pool's workers outlive the stage; the tasks' own CPU time is exact.
    m.extra["outputs"] = run.outputs
    return Side(m, run.files, run.errors, cpu_seconds=run.worker_cpu_seconds)


def _median_run(
    pool: BaselinePool,
    spark: SparkSession,
    lake: Path,
    paths: Sequence[str],
    repeats: int,
) -> tuple[tuple[Measurement, BaselineRun], pipeline.StageRun]:
    """The metadata stage takes seconds, so it is repeated (baseline and pipeline in
    turn) and the median run of each side kept: one run is at the mercy of other load."""
    base, piped = [], []
    for _ in range(repeats):
        base.append(_baseline(pool, "metadata", paths))
        piped.append(pipeline.run_stage(spark, lake, DROP_ID, "metadata", exclude=pool.pids))
    base.sort(key=lambda b: b[0].seconds)
    piped.sort(key=lambda p: p.measurement.seconds)
    median_base, median_piped = base[len(base) // 2], piped[len(piped) // 2]
    median_base[0].extra["runs_seconds"] = [round(b[0].seconds, 3) for b in base]
    median_piped.measurement.extra["runs_seconds"] = [
        round(p.measurement.seconds, 3) for p in piped
    ]
    return median_base, median_piped


def run(
    n_files: int,
    workdir: Path,
    *,
    metadata_repeats: int = 3,
    end_to_end_assets: Sequence[str] | None = SAME_WORK_ASSETS,
    all_assets: bool = True,
) -> dict[str, Any]:
    """Build the corpus under ``workdir`` and run every stage; returns the result JSON."""
    landing, lakes = workdir / "landing", workdir / "lakes"
    load_before = load_average()
    t0 = time.perf_counter()
    corpus = build_corpus(landing / DROP_ID, n_files)
    print(
        f"corpus: {len(corpus.files)} files, {corpus.total_bytes / 1e6:.0f} MB "
        f"in {time.perf_counter() - t0:.1f} s"
    )
    paths = [str(p) for p in corpus.files]
    kinds: list[Kind] = ["metadata", "thumbnails", "patches", "end_to_end"]
    if not pipeline.has_thumbnails():
        kinds.remove("thumbnails")

    # Each stage's baseline runs right before its pipeline run, so a change in the
    # machine's load between stages skews the ratio less. The pool's workers are spawned
    # processes and sit idle while Spark runs (and the idle JVM while they run).
    pool = BaselinePool()
    base: dict[str, tuple[Measurement, BaselineRun]] = {}
    stages: dict[str, pipeline.StageRun] = {}
    try:
        spark = pipeline.start_spark()
        catalog = pipeline.write_catalog(
            spark, corpus.drop_dir, lakes / "stages", DROP_ID, exclude=pool.pids
        )
        for kind in kinds:
            if kind == "metadata":
                base[kind], stages[kind] = _median_run(
                    pool, spark, lakes / "stages", paths, metadata_repeats
                )
                print(f"{kind} done")
                continue
            base[kind] = _baseline(pool, kind, paths)
            if kind == "end_to_end":
                pipeline.stop_spark()
                stages[kind] = pipeline.run_end_to_end(
                    landing,
                    lakes / "end_to_end",
                    DROP_ID,
                    exclude=pool.pids,
                    assets=end_to_end_assets,
                )
            else:
                stages[kind] = pipeline.run_stage(
                    spark, lakes / "stages", DROP_ID, kind, exclude=pool.pids
                )
            print(f"{kind} done")
    finally:
        pool.close()
    every_asset = (
        pipeline.run_end_to_end(landing, lakes / "all_assets", DROP_ID, exclude=frozenset())
        if all_assets
        else None
    )

    incremental = None
    if every_asset is not None:
        late = add_late_files(corpus, max(len(corpus.files) // 100, 1))
        again = pipeline.run_end_to_end(landing, lakes / "all_assets", DROP_ID, exclude=frozenset())
        first_s, again_s = every_asset.measurement.seconds, again.measurement.seconds
        incremental = {
            "files_added": len(late),
            "first_run_seconds": round(first_s, 3),
            "seconds": round(again_s, 3),
            "ratio_to_first_run": round(again_s / max(first_s, 1e-9), 4),
            "asset_seconds": again.measurement.extra.get("asset_seconds"),
        }
    result_stages = {}
    for kind in kinds:
        p = stages[kind]
        result_stages[kind] = stage_result(
            Side(p.measurement, p.rows if p.files is None else p.files, p.errors),
            _baseline_side(*base[kind]),
            corpus.total_bytes,
        )
    extra: dict[str, Any] = {}
    if every_asset is not None:
        m = every_asset.measurement
        extra["end_to_end_all_assets"] = {
            "seconds": round(m.seconds, 3),
            "files_per_s": round(every_asset.rows / max(m.seconds, 1e-9), 2),
            "cpu_ms_per_file": round(m.cpu_seconds * 1000 / max(every_asset.rows, 1), 3),
            "peak_rss_mb": round(m.peak_rss_bytes / 2**20, 1),
            **m.extra,
        }
    if incremental is not None:
        extra["incremental"] = incremental
    return {
        "stages": result_stages,
        **extra,
        "files": len(corpus.files),
        "corpus_mb": round(corpus.total_bytes / 1e6, 1),
        "corpus_sources": corpus.sources,
        "catalog": {
            "seconds": round(catalog.measurement.seconds, 3),
            "rows": catalog.rows,
            "errors": catalog.errors,
        },
        "memory": memory_report(),
        "machine": machine(load_before),
    }


def _sizes(text: str) -> list[int]:
    """``"5000,50000"`` -> ``[5000, 50000]`` (positive drop sizes)."""
    sizes = [int(part) for part in text.split(",") if part.strip()]
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("sizes must be positive integers, e.g. 5000,50000")
    return sizes


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=5000, help="files in the corpus")
    parser.add_argument("--out", type=Path, default=Path("result.json"), help="result JSON")
    parser.add_argument("--workdir", type=Path, default=None, help="scratch folder (kept)")
    parser.add_argument(
        "--metadata-repeats", type=int, default=3, help="metadata runs per side (median kept)"
    )
    parser.add_argument(
        "--end-to-end-assets",
        default=None,
        help="comma-separated assets for the end-to-end Dagster run "
        f"(default: {','.join(SAME_WORK_ASSETS)}, the baseline's work)",
    )
    parser.add_argument(
        "--latency",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time small drops through the ingest job on a Spark Connect server "
        "(10 files, the same again unchanged, 5 drops in one tick)",
    )
    parser.add_argument(
        "--all-assets",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time one Dagster run of every asset (patches included; no ratio)",
    )
    parser.add_argument(
        "--scale",
        type=_sizes,
        default=None,
        help="comma-separated drop sizes (e.g. 5000,50000): catalog nested vs flat at each",
    )
    parser.add_argument(
        "--scale-only", action="store_true", help="run only the scaling cases (needs --scale)"
    )
    parser.add_argument(
        "--scale-repeats", type=int, default=3, help="catalog runs per scaling case (median kept)"
    )
    parser.add_argument(
        "--scale-metadata",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time the metadata stage once per scaling case",
    )
    args = parser.parse_args(argv)
    if args.scale_only and not args.scale:
        parser.error("--scale-only needs --scale")
    assets = args.end_to_end_assets.split(",") if args.end_to_end_assets else SAME_WORK_ASSETS
    warnings.filterwarnings("ignore", module="pydicom")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="pixels-bench-"))
    try:
        load_before = load_average()
        result: dict[str, Any] = (
            {}
            if args.scale_only
            else run(
                args.files,
                workdir,
                metadata_repeats=args.metadata_repeats,
                end_to_end_assets=assets,
                all_assets=args.all_assets,
            )
        )
        if args.scale:
            result["scale"] = scale.run_scale(
                args.scale,
                workdir / "scale",
                repeats=args.scale_repeats,
                metadata=args.scale_metadata,
            )
            pipeline.stop_spark()
            result.setdefault("machine", machine(load_before))
            result["scale"]["load_after"] = load_average()
        # Last: once a Spark Connect session was made, pyspark's builder refuses local
        # sessions in this process (CONNECT_URL_NOT_SET).
        if args.latency and not args.scale_only:
            result["latency"] = latency.run(workdir / "latency")
            result["machine"]["load_average"] = load_average()  # after everything
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    args.out.write_text(json.dumps(result, indent=2))
    if "stages" in result:
        print_table(result)
    if "end_to_end_all_assets" in result:
        every = result["end_to_end_all_assets"]
        print(
            f"\nevery asset (patches included), one Dagster run: {every['seconds']} s, "
            f"{every['files_per_s']} files/s, {json.dumps(every.get('asset_seconds'))}"
        )
    if "incremental" in result:
        inc = result["incremental"]
        print(
            f"incremental: {inc['files_added']} files added, every asset again in "
            f"{inc['seconds']} s = {inc['ratio_to_first_run']:.1%} of the first run"
        )
    if "latency" in result:
        lat = result["latency"]
        print(
            f"latency ({lat['files_per_drop']} files per drop, Spark Connect server): "
            f"small drop {lat['small_drop_s']} s, unchanged re-run {lat['noop_s']} s, "
            f"5 drops in one tick {lat['five_drops_s']} s ({lat['five_drops_vs_one']}x one)"
        )
    if "memory" in result:
        print(f"\npeak memory on the largest multi-frame test file: {json.dumps(result['memory'])}")
    if "scale" in result:
        scale.print_scale(result["scale"])
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    keep_exit_status()
    main()
    sys.exit(0)
