"""Object-store settings: explicit config first, then the standard ``AWS_*`` variables,
and credentials never shown."""

from __future__ import annotations

import pytest

from pixels_pipeline.resources import LakeResource, ObjectStoreConfig
from pixels_pipeline.storage.aws_env import with_env_defaults
from pixels_pipeline.storage.uri import StorageOptions

SECRET = "not-a-real-secret-7f3a"
ENV = {
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
    "AWS_DEFAULT_REGION": "eu-west-3",
    "AWS_ACCESS_KEY_ID": "env-key",
    "AWS_SECRET_ACCESS_KEY": SECRET,
}


def test_unset_fields_come_from_the_environment() -> None:
    opts = with_env_defaults(StorageOptions(), ENV)
    assert opts.endpoint_url == "http://127.0.0.1:9000"
    assert opts.region == "eu-west-3"
    assert (opts.access_key_id, opts.secret_access_key) == ("env-key", SECRET)
    assert opts.delta_options()["AWS_ALLOW_HTTP"] == "true"


def test_explicit_values_win_and_credentials_are_never_mixed() -> None:
    explicit = StorageOptions(region="us-east-2", access_key_id="cfg-key", secret_access_key="x")
    opts = with_env_defaults(explicit, {**ENV, "AWS_ENDPOINT_URL_S3": "http://s3.local"})
    assert opts.region == "us-east-2"
    assert opts.endpoint_url == "http://s3.local"  # the S3-specific variable comes first
    assert (opts.access_key_id, opts.secret_access_key) == ("cfg-key", "x")


def test_nothing_set_means_not_configured() -> None:
    opts = with_env_defaults(StorageOptions(), {})
    assert opts == StorageOptions()
    assert "AWS_ENDPOINT_URL" not in opts.delta_options()


def test_retries_are_passed_to_delta_rs() -> None:
    delta = StorageOptions(max_attempts=3, retry_timeout_s=20).delta_options()
    assert (delta["max_retries"], delta["retry_timeout"]) == ("2", "20s")


def test_lake_resource_resolves_at_run_time_and_hides_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lake = LakeResource(landing="s3://b/landing", lake="s3://b/lake")  # built before the env
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_SKIP_SIGNATURE", "true")
    opts = lake.storage_options()
    assert opts.secret_access_key == SECRET and opts.anonymous
    configured = LakeResource(
        landing="s3://b/landing",
        lake="s3://b/lake",
        object_store=ObjectStoreConfig(secret_access_key=SECRET, anonymous=False),
    )
    assert not configured.storage_options().anonymous
    for text in (repr(lake), repr(configured), repr(opts), repr(configured.object_store)):
        assert SECRET not in text
