"""Names of what the SCP writes: drop ids from associations, file names from instances."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timezone

from pixels_pipeline.storage.landing import is_valid_drop_id

DROP_PREFIX = "scp-"
# Characters a drop id may not hold become "_"; runs collapse to one.
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# A DICOM UID: numeric components separated by dots, at most 64 characters (PS3.5 9.1).
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


def drop_id_for(calling_ae: str, when: datetime | None = None, token: str | None = None) -> str:
    """``scp-<calling AE>-<UTC yyyymmddThhmmssZ>-<random>``, a valid drop id.

    The random part keeps two associations from one sender in the same second apart.
    """
    ae = _UNSAFE.sub("_", calling_ae.strip()).strip("._-") or "unknown"
    stamp = (when or datetime.now(timezone.utc)).astimezone(timezone.utc)
    drop_id = f"{DROP_PREFIX}{ae}-{stamp:%Y%m%dT%H%M%SZ}-{token or secrets.token_hex(4)}"
    if not is_valid_drop_id(drop_id):  # only a malformed token can get here
        raise ValueError(f"not a valid drop id: {drop_id!r}")
    return drop_id


def file_name_for(sop_instance_uid: str) -> str:
    """``<SOP Instance UID>.dcm``; a UID that is malformed becomes its sha256 instead,
    so a peer cannot choose a path (``..``, ``/``) inside the drop."""
    uid = sop_instance_uid.strip().rstrip("\x00")
    if len(uid) <= 64 and _UID.match(uid):
        return f"{uid}.dcm"
    return f"{hashlib.sha256(sop_instance_uid.encode('utf-8', 'replace')).hexdigest()}.dcm"
