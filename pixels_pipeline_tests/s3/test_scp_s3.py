"""The storage SCP landing drops on S3 (a local moto server): whole uploads, _SUCCESS last,
nothing left by an aborted association."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pixels_pipeline.scp import DropStore, ScpConfig, StorageScp
from pixels_pipeline.storage.aws_env import with_env_defaults
from pixels_pipeline.storage.drop_tracker import plan_tick
from pixels_pipeline.storage.uri import StorageOptions

from ..scp.senders import sample_files, send_pynetdicom, wait_until
from .conftest import ensure_bucket, s3_client

pytestmark = [pytest.mark.s3]
BUCKET = "scp-landing"
LANDING = f"s3://{BUCKET}/zone"


@pytest.fixture
def s3_scp(aws_env: str, aws_secret: str) -> Iterator[tuple[StorageScp, int, StorageOptions]]:
    ensure_bucket(s3_client(aws_env, aws_secret), BUCKET)
    options = with_env_defaults(StorageOptions(), os.environ)
    scp = StorageScp(ScpConfig(landing=LANDING, port=0), DropStore(LANDING, options))
    port = scp.start()
    yield scp, port, options
    scp.stop()


def keys(endpoint: str, secret: str) -> list[str]:
    listing = s3_client(endpoint, secret).list_objects_v2(Bucket=BUCKET, Prefix="zone/")
    # pyarrow leaves an empty "zone/" marker when it deletes the only folder under it.
    return sorted(o["Key"] for o in listing.get("Contents", []) if not o["Key"].endswith("/"))


def test_released_association_is_a_complete_drop_and_aborted_one_leaves_nothing(
    s3_scp: tuple[StorageScp, int, StorageOptions], aws_env: str, aws_secret: str
) -> None:
    scp, port, options = s3_scp
    files: list[Path] = sample_files("CT_small.dcm", "JPEG2000.dcm")
    assert send_pynetdicom(port, files, calling_ae="TO_S3") == [0, 0]
    assert wait_until(lambda: scp.stats().drops_completed == 1)
    assert send_pynetdicom(port, files, calling_ae="CUT", abort_after=1) == [0]
    assert wait_until(lambda: scp.stats().drops_discarded == 1)
    stored = keys(aws_env, aws_secret)
    assert len(stored) == 3 and stored[-1].endswith("/_SUCCESS")
    assert all(k.startswith("zone/scp-TO_S3-") for k in stored)
    body = s3_client(aws_env, aws_secret).get_object(Bucket=BUCKET, Key=stored[0])["Body"].read()
    assert body[128:132] == b"DICM"
    plan = plan_tick(LANDING, None, options=options)
    assert [r.drop_id for r in plan.runs] == [stored[0].split("/")[1]] and plan.incomplete == ()
