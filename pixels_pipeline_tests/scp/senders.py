"""Independent senders for the SCP tests (dcmtk's ``storescu`` and pynetdicom) and checks
that what landed equals what was sent."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from pydicom import dcmread
from pynetdicom import AE

from pixels_pipeline.samples import pydicom_test_files
from pixels_pipeline.storage.landing import SUCCESS_MARKER

CALLED_AE = "PIXELS"


def _is_python_script(path: str) -> bool:
    with open(path, "rb") as head:
        first = head.readline(256)
    return first.startswith(b"#!") and b"python" in first


def _dcmtk_storescu() -> str | None:
    """dcmtk's storescu: pynetdicom installs a ``storescu`` Python script of its own into
    every venv it is installed in (this one comes first on PATH, another may follow), so
    look past any Python script."""
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        found = shutil.which("storescu", path=folder)
        if found and not _is_python_script(found):
            return found
    return None


STORESCU = _dcmtk_storescu()
NO_STORESCU = "dcmtk's storescu is not installed (apt-get install dcmtk; .ci/run does it as root)"

# Real files with distinct SOP Instance UIDs, one per transfer syntax (pydicom 3.0 test files).
AS_SENT = (
    "CT_small.dcm",  # Explicit VR Little Endian
    "liver_expb_1frame.dcm",  # Explicit VR Big Endian
    "rtdose.dcm",  # Implicit VR Little Endian, multi-frame
    "image_dfl.dcm",  # Deflated Explicit VR Little Endian
    "JPEG2000.dcm",  # JPEG 2000
    "examples_jpeg2k.dcm",  # JPEG 2000 Lossless
    "SC_rgb_jpeg_gdcm.dcm",  # JPEG Lossless SV1
    "SC_rgb_jpeg_dcmtk.dcm",  # JPEG Baseline
    "JPGExtended.dcm",  # JPEG Extended
    "JPEGLSNearLossless_08.dcm",  # JPEG-LS Near-Lossless
    "MR_small_RLE.dcm",  # RLE Lossless
)


def sample_files(*names: str) -> list[Path]:
    return [pydicom_test_files() / n for n in names]


def storescu(
    port: int,
    files: Sequence[Path],
    *,
    calling_ae: str,
    work: Path,
    verbose: bool = False,
    timeout_s: float = 60.0,
) -> subprocess.CompletedProcess[str]:
    """Send ``files`` in ONE association with dcmtk's storescu, each in its own transfer
    syntax: a generated config proposes one presentation context per (SOP class,
    transfer syntax) of the files, so storescu converts nothing."""
    assert STORESCU is not None, NO_STORESCU
    pairs: list[tuple[str, str]] = []
    for f in files:
        ds = dcmread(f, stop_before_pixels=True)
        pair = (str(ds.SOPClassUID), str(ds.file_meta.TransferSyntaxUID))
        if pair not in pairs:
            pairs.append(pair)
    lines = ["[[TransferSyntaxes]]"]
    for i, (_, ts) in enumerate(pairs, 1):
        lines += [f"[TS{i}]", f"TransferSyntax1 = {ts}"]
    lines += ["[[PresentationContexts]]", "[AsSent]"]
    lines += [f"PresentationContext{i} = {sop}\\TS{i}" for i, (sop, _) in enumerate(pairs, 1)]
    lines += ["[[Profiles]]", "[AsSent]", "PresentationContexts = AsSent"]
    work.mkdir(parents=True, exist_ok=True)
    config = work / f"storescu-{calling_ae}.cfg"
    config.write_text("\n".join(lines) + "\n")
    command = [STORESCU, "-xf", str(config), "AsSent", "-aet", calling_ae, "-aec", CALLED_AE]
    command += ["-v"] if verbose else []
    return subprocess.run(
        [*command, "127.0.0.1", str(port), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def send_pynetdicom(
    port: int,
    files: Sequence[Path],
    *,
    calling_ae: str = "PYNETDICOM",
    abort_after: int | None = None,
    together: threading.Barrier | None = None,
) -> list[int]:
    """Send ``files`` in one association with pynetdicom; returns each C-STORE status.

    ``abort_after=n`` aborts the association after n stores; ``together`` is a barrier
    every sender passes once its association is established (to overlap them)."""
    ae = AE(ae_title=calling_ae)
    pairs = []
    for f in files:
        ds = dcmread(f, stop_before_pixels=True)
        pairs.append((ds.SOPClassUID, ds.file_meta.TransferSyntaxUID))
    for sop, ts in dict.fromkeys(pairs):
        ae.add_requested_context(sop, ts)
    assoc = ae.associate("127.0.0.1", port, ae_title=CALLED_AE)
    if not assoc.is_established:
        return []
    if together is not None:
        together.wait(timeout=30)
    statuses: list[int] = []
    for i, f in enumerate(files):
        if abort_after is not None and i == abort_after:
            assoc.abort()
            return statuses
        status = assoc.send_c_store(f)
        statuses.append(int(status.Status) if "Status" in status else -1)
    assoc.release()
    return statuses


def complete_drops(landing: Path) -> list[Path]:
    if not landing.is_dir():
        return []
    return sorted(d for d in landing.iterdir() if (d / SUCCESS_MARKER).is_file())


def wait_for_drops(landing: Path, n: int, timeout_s: float = 15.0) -> list[Path]:
    """The landing zone's complete drops once there are ``n`` (``_SUCCESS`` is written
    by the SCP's association thread just after the release reply, so it can trail the
    sender by a moment)."""
    deadline = time.monotonic() + timeout_s
    while len(drops := complete_drops(landing)) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    return drops


def wait_until(condition: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def assert_same_instances(drop: Path, files: Sequence[Path]) -> None:
    """The drop holds exactly the sent instances, each in the transfer syntax it was
    sent in, with the same pixel data bytes."""
    received = {
        str(ds.SOPInstanceUID): ds
        for ds in (dcmread(p) for p in drop.iterdir() if p.name != SUCCESS_MARKER)
    }
    sent = {str(ds.SOPInstanceUID): ds for ds in (dcmread(f) for f in files)}
    assert sorted(received) == sorted(sent)
    for uid, ds in sent.items():
        got = received[uid]
        assert got.file_meta.TransferSyntaxUID == ds.file_meta.TransferSyntaxUID, uid
        assert got.file_meta.MediaStorageSOPInstanceUID == uid
        assert got.SOPClassUID == ds.SOPClassUID
        assert ("PixelData" in got) == ("PixelData" in ds)
        if "PixelData" in ds:
            assert got.PixelData == ds.PixelData, uid
    names = sorted(p.name for p in drop.iterdir())
    assert names == sorted([SUCCESS_MARKER, *(f"{uid}.dcm" for uid in sent)])
