"""The pipeline with its landing zone and lake on a real S3 server (moto), configured
only through ``AWS_*`` variables and ``s3://`` URIs: same tables as from local disk,
anonymous reads of public buckets, and a server lost mid-run."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import deltalake
import pyarrow as pa
import pytest
from dagster import (
    DagsterInstance,
    SensorResult,
    build_sensor_context,
    materialize,
    serialize_value,
)

from pixels_pipeline.assets.metadata import metadata
from pixels_pipeline.assets.object_catalog import object_catalog
from pixels_pipeline.assets.thumbnails import thumbnails
from pixels_pipeline.resources import LakeResource, ObjectStoreConfig, SparkResource
from pixels_pipeline.sensors import landing_sensor
from pixels_pipeline.storage.uri import StorageOptions

from ..conftest import TEST_FILES_DROP
from .conftest import FaultyProxy, ensure_bucket, files_of, s3_client, upload_drop

pytestmark = [pytest.mark.s3, pytest.mark.spark, pytest.mark.dagster]

INGEST = [object_catalog, metadata, thumbnails]
TABLES = ("object_catalog", "metadata", "thumbnails")


def ingest(
    instance: DagsterInstance, lake: LakeResource, drop_id: str, assets: list[Any] | None = None
) -> tuple[Any, float]:
    """Materialize the drop; returns the result and its wall time in seconds."""
    start = time.perf_counter()
    result = materialize(
        assets or INGEST,
        partition_key=drop_id,
        instance=instance,
        resources={"spark": SparkResource(master="local[2]", stop_at_teardown=False), "lake": lake},
        raise_on_error=False,
    )
    return result, time.perf_counter() - start


def read_table(uri: str, options: StorageOptions) -> pa.Table:
    return deltalake.DeltaTable(uri, storage_options=options.delta_options()).to_pyarrow_table()


def table_version(uri: str, options: StorageOptions) -> int:
    return deltalake.DeltaTable(uri, storage_options=options.delta_options()).version()


def summary(table: pa.Table, drop_uri: str) -> list[tuple[Any, ...]]:
    """What must not depend on where the files are: per relative path, the error type, the
    SOP Instance UID (if any) and a digest of the thumbnail (if any), sorted."""
    rows = []
    for r in table.to_pylist():
        png = r.get("thumbnail_png")
        rows.append(
            (
                r["path"][len(drop_uri) :].lstrip("/"),
                r["error_type"],
                r.get("sop_instance_uid"),
                r.get("is_dicom"),
                hashlib.sha256(png).hexdigest()[:16] if png else None,
            )
        )
    return sorted(rows, key=repr)


def run_text(instance: DagsterInstance, run_id: str) -> str:
    """Everything Dagster recorded about a run: events, metadata, errors, run config."""
    run = instance.get_run_by_id(run_id)
    assert run is not None
    events = [serialize_value(e) for e in instance.all_logs(run_id)]
    return json.dumps(run.run_config, default=str) + "".join(events)


@pytest.fixture(scope="module")
def instance() -> DagsterInstance:
    return DagsterInstance.ephemeral()


@pytest.fixture(scope="module")
def local_baseline(
    spark: object,
    instance: DagsterInstance,
    landing: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[str, pa.Table], float]:
    """The same drop ingested from local disk into a local lake."""
    lake_dir = tmp_path_factory.mktemp("local_lake")
    instance.add_dynamic_partitions("drops", [TEST_FILES_DROP])
    lake = LakeResource(landing=str(landing), lake=str(lake_dir))
    result, seconds = ingest(instance, lake, TEST_FILES_DROP)
    assert result.success
    tables = {t: read_table(str(lake_dir / t), StorageOptions()) for t in TABLES}
    return tables, seconds


def test_drop_on_s3_through_sensor_into_s3_lake_matches_local(
    aws_env: str,
    aws_secret: str,
    instance: DagsterInstance,
    landing: Path,
    local_baseline: tuple[dict[str, pa.Table], float],
    capfd: pytest.CaptureFixture[str],
) -> None:
    ensure_bucket(s3_client(aws_env), "pixels-lake")
    upload_drop(
        s3_client(aws_env),
        "pixels-landing",
        f"zone/{TEST_FILES_DROP}",
        files_of(landing / TEST_FILES_DROP),
    )
    # Nothing but URIs here: endpoint and credentials come from the AWS_* variables.
    lake = LakeResource(landing="s3://pixels-landing/zone", lake="s3://pixels-lake/lake")
    assert aws_secret not in repr(lake) and aws_secret not in repr(lake.storage_options())

    context = build_sensor_context(instance=instance, resources={"lake": lake})
    sensed = landing_sensor(context)
    assert isinstance(sensed, SensorResult)
    assert [r.partition_key for r in sensed.run_requests or []] == [TEST_FILES_DROP]
    for request in sensed.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions("drops", list(request.partition_keys or []))

    result, s3_seconds = ingest(instance, lake, TEST_FILES_DROP)
    assert result.success

    options = lake.storage_options()
    local_tables, local_seconds = local_baseline
    local_drop = str(landing / TEST_FILES_DROP)
    s3_drop = f"s3://pixels-landing/zone/{TEST_FILES_DROP}"
    for name in TABLES:
        remote = read_table(f"s3://pixels-lake/lake/{name}", options)
        assert remote.num_rows == local_tables[name].num_rows > 0, name
        assert summary(remote, s3_drop) == summary(local_tables[name], local_drop), name
    catalog = read_table("s3://pixels-lake/lake/object_catalog", options).to_pylist()
    assert all(r["path"].startswith(s3_drop + "/") and r["local_path"] is None for r in catalog)
    assert not any(r["is_anon"] for r in catalog)
    gallery = s3_client(aws_env).head_object(
        Bucket="pixels-lake", Key=f"lake/_gallery/{TEST_FILES_DROP}/contact_sheet.png"
    )
    assert gallery["ContentLength"] > 0

    # The secret reached pyarrow and delta-rs, but no log line, event or run config.
    assert aws_secret not in run_text(instance, result.run_id)
    out, err = capfd.readouterr()
    assert aws_secret not in out + err
    print(
        f"\nsame drop, object_catalog+metadata+thumbnails: local {local_seconds:.1f} s, "
        f"S3 (moto) {s3_seconds:.1f} s"
    )


def test_public_bucket_is_read_anonymously(
    aws_env: str, instance: DagsterInstance, landing: Path, tmp_path: Path
) -> None:
    files = dict(list(files_of(landing / TEST_FILES_DROP).items())[:8])
    client = s3_client(aws_env)
    upload_drop(client, "pixels-public", "zone/open-drop", files, acl="public-read")
    upload_drop(client, "pixels-private", "zone/open-drop", files)
    instance.add_dynamic_partitions("drops", ["open-drop"])
    anonymous = ObjectStoreConfig(anonymous=True)

    public = LakeResource(
        landing="s3://pixels-public/zone", lake=str(tmp_path / "lake"), object_store=anonymous
    )
    assert public.storage_options().anonymous
    result, _ = ingest(instance, public, "open-drop", [object_catalog])
    assert result.success
    rows = read_table(str(tmp_path / "lake" / "object_catalog"), StorageOptions()).to_pylist()
    assert sorted(r["relative_path"] for r in rows) == sorted(files)
    assert all(r["is_anon"] and r["error_type"] is None for r in rows)
    assert sum(r["is_dicom"] for r in rows) >= len(files) // 2

    # Unsigned requests really are unsigned: the same files in a private bucket are refused.
    private = LakeResource(
        landing="s3://pixels-private/zone", lake=str(tmp_path / "lake2"), object_store=anonymous
    )
    refused, _ = ingest(instance, private, "open-drop", [object_catalog])
    assert refused.success  # unreadable files are error rows, never a failed run
    denied = read_table(str(tmp_path / "lake2" / "object_catalog"), StorageOptions()).to_pylist()
    assert sorted(r["relative_path"] for r in denied) == sorted(files)
    assert all(r["error_type"] == "read_error" for r in denied)
    assert all("ACCESS_DENIED" in r["error_message"] for r in denied)


def test_server_lost_mid_run_fails_safely_and_retry_succeeds(
    aws_env: str,
    instance: DagsterInstance,
    landing: Path,
    faulty_proxy: FaultyProxy,
) -> None:
    files = dict(list(files_of(landing / TEST_FILES_DROP).items())[:24])
    ensure_bucket(s3_client(aws_env), "pixels-lake")
    upload_drop(s3_client(aws_env), "pixels-landing", "zone/small-drop", files)
    instance.add_dynamic_partitions("drops", ["small-drop"])
    lake_uri = "s3://pixels-lake/faulty"
    direct = StorageOptions(endpoint_url=aws_env)  # credentials from AWS_*, not the proxy
    via_proxy = ObjectStoreConfig(
        endpoint_url=faulty_proxy.endpoint, max_attempts=2, retry_timeout_s=2
    )
    lake = LakeResource(landing="s3://pixels-landing/zone", lake=lake_uri, object_store=via_proxy)

    first, _ = ingest(instance, lake, "small-drop", [object_catalog, metadata])
    assert first.success
    before = read_table(f"{lake_uri}/metadata", lake.storage_options())

    # The server goes away when the metadata step first touches its table.
    faulty_proxy.start(trip_on=("faulty/metadata", "faulty%2Fmetadata"))
    failed, _ = ingest(instance, lake, "small-drop")
    assert faulty_proxy.tripped
    assert not failed.success
    # Mid-run: the catalog step before it succeeded, metadata failed, and so did thumbnails
    # (it reads the catalog only, and runs after metadata here: the server was still gone).
    assert [e.step_key for e in failed.get_step_failure_events()] == ["metadata", "thumbnails"]
    assert [e.step_key for e in failed.get_step_success_events()] == ["object_catalog"]
    # The tables are intact: metadata still at its previous version, the same rows.
    assert table_version(f"{lake_uri}/metadata", direct) == 1  # created, written once
    after_failure = read_table(f"{lake_uri}/metadata", direct)
    assert after_failure.sort_by("path").equals(before.sort_by("path"))
    assert not deltalake.DeltaTable.is_deltatable(
        f"{lake_uri}/thumbnails", storage_options=direct.delta_options()
    )

    faulty_proxy.start()  # the server is back
    retried, _ = ingest(instance, lake, "small-drop")
    assert retried.success
    again = read_table(f"{lake_uri}/metadata", direct)
    assert summary(again, "") == summary(before, "")
    assert read_table(f"{lake_uri}/thumbnails", direct).num_rows > 0
