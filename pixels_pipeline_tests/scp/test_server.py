"""A real SCP on loopback, real senders (dcmtk's storescu, pynetdicom), real files."""

from __future__ import annotations

import errno
import logging
import re
import shutil
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from pydicom import dcmread
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage, Verification  # type: ignore[attr-defined]

from pixels_pipeline.scp.server import OUT_OF_RESOURCES, SUCCESS
from pixels_pipeline.scp.store import DropStore
from pixels_pipeline.storage.drop_tracker import plan_tick

from .conftest import RunningScp
from .senders import (
    AS_SENT,
    CALLED_AE,
    NO_STORESCU,
    STORESCU,
    assert_same_instances,
    complete_drops,
    sample_files,
    send_pynetdicom,
    storescu,
    wait_for_drops,
    wait_until,
)

needs_storescu = pytest.mark.skipif(STORESCU is None, reason=NO_STORESCU)
StartScp = Callable[..., RunningScp]


def folders(landing: Path) -> list[str]:
    return sorted(p.name for p in landing.iterdir()) if landing.is_dir() else []


@needs_storescu
def test_storescu_association_lands_one_drop_as_sent(
    start_scp: StartScp, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="pixels_pipeline")
    running = start_scp(allowed_ae_titles=("STORESCU",))
    files = sample_files(*AS_SENT)
    done = storescu(running.port, files, calling_ae="STORESCU", work=tmp_path)
    assert done.returncode == 0, done.stderr
    (drop,) = wait_for_drops(running.landing, 1)
    assert re.fullmatch(r"scp-STORESCU-\d{8}T\d{6}Z-[0-9a-f]{8}", drop.name)
    assert_same_instances(drop, files)
    assert wait_until(lambda: running.scp.stats().drops_completed == 1)  # counted after _SUCCESS
    stats = running.scp.stats()
    assert (stats.files_stored, stats.drops_completed, stats.store_failures) == (len(files), 1, 0)
    # Logs carry counts and drop ids: no UIDs, patient names or ids, no paths.
    logged = caplog.text
    assert f"complete, {len(files)} file(s)" in logged
    for f in files:
        ds = dcmread(f, stop_before_pixels=True)
        assert str(ds.SOPInstanceUID) not in logged
        for value in (ds.get("PatientName"), ds.get("PatientID")):
            assert not value or str(value) not in logged
    assert str(running.landing) not in logged


def test_pynetdicom_association_lands_one_drop_as_sent(start_scp: StartScp) -> None:
    running = start_scp()
    files = sample_files(*AS_SENT)
    assert send_pynetdicom(running.port, files) == [SUCCESS] * len(files)
    (drop,) = wait_for_drops(running.landing, 1)
    assert drop.name.startswith("scp-PYNETDICOM-")
    assert_same_instances(drop, files)


def test_aborted_association_never_becomes_a_drop(start_scp: StartScp) -> None:
    running = start_scp()
    files = sample_files("CT_small.dcm", "MR_small_RLE.dcm", "JPEG2000.dcm")
    assert send_pynetdicom(running.port, files, abort_after=2) == [SUCCESS, SUCCESS]
    assert wait_until(lambda: running.scp.stats().drops_discarded == 1)
    assert folders(running.landing) == []  # the partial drop is gone, not just incomplete
    plan = plan_tick(str(running.landing), None)
    assert plan.runs == () and plan.incomplete == ()


@needs_storescu
def test_rejected_calling_ae_title_stores_nothing(start_scp: StartScp, tmp_path: Path) -> None:
    running = start_scp(allowed_ae_titles=("MODALITY1", "PACS"))
    done = storescu(running.port, sample_files("CT_small.dcm"), calling_ae="BAD", work=tmp_path)
    assert done.returncode != 0
    assert "Calling AE Title Not Recognized" in done.stderr
    assert folders(running.landing) == []
    assert running.scp.stats().rejected == 1 and running.scp.stats().associations == 0


@pytest.mark.parametrize(
    ("networks", "accepted"), [(("10.0.0.0/8",), False), (("127.0.0.1",), True)]
)
def test_address_allow_list(start_scp: StartScp, networks: tuple[str, ...], accepted: bool) -> None:
    running = start_scp(allowed_networks=networks)
    statuses = send_pynetdicom(running.port, sample_files("CT_small.dcm"))
    assert statuses == ([SUCCESS] if accepted else [])
    assert len(wait_for_drops(running.landing, 1, timeout_s=5 if accepted else 0.5)) == accepted
    assert running.scp.stats().rejected == (0 if accepted else 1)


def test_two_concurrent_senders_make_two_drops(start_scp: StartScp) -> None:
    running = start_scp()
    halves = {"SENDER_A": AS_SENT[:5], "SENDER_B": AS_SENT[5:]}
    together = threading.Barrier(len(halves))  # both associations are open at once
    results: dict[str, list[int]] = {}

    def send(ae_title: str) -> None:
        files = sample_files(*halves[ae_title])
        results[ae_title] = send_pynetdicom(
            running.port, files, calling_ae=ae_title, together=together
        )

    threads = [threading.Thread(target=send, args=(ae,)) for ae in halves]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert {ae: len(s) for ae, s in results.items()} == {ae: len(h) for ae, h in halves.items()}
    drops = wait_for_drops(running.landing, 2)
    assert len(drops) == 2
    for ae_title, names in halves.items():
        (drop,) = [d for d in drops if d.name.startswith(f"scp-{ae_title}-")]
        assert_same_instances(drop, sample_files(*names))


def test_association_limit_rejects_the_extra_association(start_scp: StartScp) -> None:
    running = start_scp(max_associations=1)
    first, second = AE(ae_title="FIRST"), AE(ae_title="SECOND")
    for ae in (first, second):
        ae.add_requested_context(CTImageStorage)
    held = first.associate("127.0.0.1", running.port, ae_title=CALLED_AE)
    assert held.is_established
    extra = second.associate("127.0.0.1", running.port, ae_title=CALLED_AE)
    assert extra.is_rejected
    assert wait_until(lambda: running.scp.stats().rejected == 1)
    assert held.send_c_store(sample_files("CT_small.dcm")[0]).Status == SUCCESS
    held.release()
    assert len(wait_for_drops(running.landing, 1)) == 1


class FullDisk(DropStore):
    """A store on a full disk: every write fails as the OS reports it."""

    def write(self, drop_id: str, name: str, data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", f"/data/{drop_id}/{name}")


def test_disk_full_is_a_failure_status_not_a_silent_success(
    start_scp: StartScp, tmp_path: Path
) -> None:
    running = start_scp(store=FullDisk(str(tmp_path / "landing")))
    statuses = send_pynetdicom(running.port, sample_files("CT_small.dcm", "JPEG2000.dcm"))
    assert statuses == [OUT_OF_RESOURCES, OUT_OF_RESOURCES]
    assert folders(running.landing) == []
    assert running.scp.stats().store_failures == 2


@needs_storescu
def test_unwritable_store_is_a_failure_status(start_scp: StartScp, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_bytes(b"")  # the landing zone would have to live under a regular file
    running = start_scp(landing=str(blocker / "landing"))
    files = sample_files("CT_small.dcm", "JPEG2000.dcm")
    assert send_pynetdicom(running.port, files) == [OUT_OF_RESOURCES] * 2
    done = storescu(running.port, files, calling_ae="STORESCU", work=tmp_path, verbose=True)
    assert done.returncode != 0
    assert "Received Store Response (Refused: OutOfResources)" in done.stderr, done.stderr
    assert running.scp.stats().files_stored == 0


def test_dataset_over_the_size_limit_is_refused(start_scp: StartScp) -> None:
    running = start_scp(max_dataset_bytes=20_000)
    big, small = sample_files("CT_small.dcm", "MR_small_RLE.dcm")  # 39 KB, 8 KB
    assert big.stat().st_size > 20_000 > small.stat().st_size
    assert send_pynetdicom(running.port, [big, small]) == [OUT_OF_RESOURCES, SUCCESS]
    (drop,) = wait_for_drops(running.landing, 1)
    assert_same_instances(drop, [small])


def test_c_echo_is_answered_and_makes_no_drop(start_scp: StartScp) -> None:
    running = start_scp()
    ae = AE(ae_title="ECHOER")
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", running.port, ae_title=CALLED_AE)
    assert assoc.send_c_echo().Status == SUCCESS
    assoc.release()
    if shutil.which("echoscu"):
        done = subprocess.run(
            ["echoscu", "-aec", CALLED_AE, "127.0.0.1", str(running.port)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 0, done.stderr
    assert wait_until(lambda: running.scp.stats().echoes == (2 if shutil.which("echoscu") else 1))
    assert complete_drops(running.landing) == [] and folders(running.landing) == []
