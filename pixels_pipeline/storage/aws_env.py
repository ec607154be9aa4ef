"""Object-store settings from the standard ``AWS_*`` environment variables.

Called at run time on the driver (never at import time): the resolved settings then
travel to every Spark task, so executors on a cluster need no credentials of their own.
Explicit values win over the environment; a variable that is unset means "not
configured", and pyarrow/delta-rs then use their default credential chains
(``~/.aws`` files, instance or pod identity).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from pixels_pipeline.storage.uri import StorageOptions

# Variable read for each StorageOptions field, first set one wins.
ENV_VARIABLES: dict[str, tuple[str, ...]] = {
    "endpoint_url": ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
    "region": ("AWS_REGION", "AWS_DEFAULT_REGION"),
    "access_key_id": ("AWS_ACCESS_KEY_ID",),
    "secret_access_key": ("AWS_SECRET_ACCESS_KEY",),
    "session_token": ("AWS_SESSION_TOKEN",),
}
# object_store's name for unsigned requests; the ``anonymous`` setting overrides it.
ANONYMOUS_VARIABLE = "AWS_SKIP_SIGNATURE"
_TRUE = frozenset({"1", "true", "yes", "on"})


def with_env_defaults(options: StorageOptions, environ: Mapping[str, str]) -> StorageOptions:
    """``options`` with each unset field filled from ``environ``.

    Credentials are taken as a pair from one place: an explicit access key never mixes
    with a secret from the environment.
    """
    values: dict[str, Any] = {}
    for name, variables in ENV_VARIABLES.items():
        if getattr(options, name) is None:
            found = next((environ[v] for v in variables if environ.get(v)), None)
            if found is not None:
                values[name] = found
    if options.access_key_id is not None or options.secret_access_key is not None:
        for name in ("access_key_id", "secret_access_key", "session_token"):
            values.pop(name, None)
    return replace(options, **values)


def anonymous_from_env(environ: Mapping[str, str]) -> bool:
    """Whether ``AWS_SKIP_SIGNATURE`` asks for unsigned (anonymous) requests."""
    return environ.get(ANONYMOUS_VARIABLE, "").strip().lower() in _TRUE
