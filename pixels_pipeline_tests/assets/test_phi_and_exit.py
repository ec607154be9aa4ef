"""A real ``dagster asset materialize`` of a drop holding PHI: nothing of the patient's
name, ID or file names reaches ``DAGSTER_HOME`` (event log, compute logs, run storage) or
the run's output, and the process exits 0."""

import os
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest
from dagster import DagsterInstance

from pixels_pipeline.samples import find_test_file
from pixels_pipeline.storage.landing import SUCCESS_MARKER

pytestmark = [pytest.mark.spark, pytest.mark.dagster, pytest.mark.slow]

CANARY = "zqxcanary"  # lower case: matched case-insensitively
DROP = "phi-drop"
SELECT = ("--select", "*", "--partition", DROP)


def write_canary_drop(landing: Path) -> Path:
    """A drop with a folder named after the patient, holding the patient's files (named
    after them too; one decoded in-process, one by gdcm in the isolated child), a
    truncated copy and a non-DICOM note: success and error rows. The birth date is not a
    valid DA value, so pydicom warns quoting it."""
    folder = landing / DROP / f"{CANARY}_alice_patient"
    folder.mkdir(parents=True)
    for source_name, name in (("CT_small.dcm", "alice"), ("JPEG-LL.dcm", "alice_jpeg")):
        source = find_test_file(source_name)
        assert source is not None
        ds = pydicom.dcmread(source)
        ds.PatientName = f"{CANARY.upper()}^ALICE"
        ds.PatientID = f"{CANARY.upper()}-0042"
        ds.add_new(0x00100030, "DA", CANARY.upper())  # Patient's Birth Date
        ds.save_as(folder / f"{CANARY}_{name}.dcm")
    data = (folder / f"{CANARY}_alice.dcm").read_bytes()
    (folder / f"{CANARY}_alice_cut.dcm").write_bytes(data[: len(data) // 3])
    (folder / f"{CANARY}_notes.txt").write_text(f"notes about {CANARY} alice\n")
    (landing / DROP / SUCCESS_MARKER).write_text("")
    return folder


def files_holding(root: Path, needle: bytes) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and needle in path.read_bytes().lower():
            found.append(str(path.relative_to(root)))
    return found


def test_a_run_leaves_no_phi_outside_the_tables_and_exits_zero(tmp_path: Path) -> None:
    landing, lake, home = tmp_path / "landing", tmp_path / "lake", tmp_path / "dagster_home"
    write_canary_drop(landing)
    home.mkdir()
    root = Path(__file__).resolve().parents[2]
    (home / "dagster.yaml").write_bytes((root / "dagster.yaml").read_bytes())
    with DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions("drops", [DROP])
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "PIXELS_LANDING": str(landing),
        "PIXELS_LAKE": str(lake),
        "PIXELS_SPARK_MASTER": "local[2]",
    }
    dagster = Path(sys.executable).with_name("dagster")
    run = subprocess.run(
        [str(dagster), "asset", "materialize", "-m", "pixels_pipeline.definitions", *SELECT],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stderr[-4000:].decode(errors="replace")
    assert b"RUN_SUCCESS" in run.stderr + run.stdout

    # The tables hold the PHI (that is their job) ...
    meta = pydicom.dcmread(landing / DROP / f"{CANARY}_alice_patient" / f"{CANARY}_alice.dcm")
    assert CANARY.upper() in str(meta.PatientName)
    assert files_holding(lake / "metadata", CANARY.encode())
    # ... and nothing else does: not the event log, compute logs or run storage, nor the
    # gallery (captioned by row id), ...
    assert files_holding(home, CANARY.encode()) == []
    gallery = lake / "_gallery" / DROP / "index.html"
    assert gallery.read_text().count("<figure") == 2
    assert files_holding(lake / "_gallery", CANARY.encode()) == []
    # ... nor the run's output.
    output = (run.stdout + run.stderr).lower()
    assert CANARY.encode() not in output, output[
        max(0, output.find(CANARY.encode()) - 300) : output.find(CANARY.encode()) + 300
    ]
