"""``python -m pixels_pipeline.scp`` as an operator runs it: a real process, real senders."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from pydicom import dcmread
from pynetdicom import AE
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

import pixels_pipeline
from pixels_pipeline.scp.__main__ import parse_args

from .senders import CALLED_AE, sample_files, send_pynetdicom, wait_for_drops, wait_until

REPO = Path(pixels_pipeline.__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def echo(port: int) -> bool:
    ae = AE(ae_title="PROBE")
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", port, ae_title=CALLED_AE)
    if not assoc.is_established:
        return False
    ok = bool(assoc.send_c_echo().Status == 0)
    assoc.release()
    return ok


def test_cli_receives_logs_counts_only_and_stops_on_sigterm(tmp_path: Path) -> None:
    landing, port = tmp_path / "landing", free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "PIXELS_LANDING": str(landing)}
    env["PIXELS_SCP_ALLOWED_AE"] = "PROBE, MODALITY"
    command = [sys.executable, "-m", "pixels_pipeline.scp", "--port", str(port)]
    proc = subprocess.Popen(
        [*command, "--ae-title", CALLED_AE],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_until(lambda: echo(port), timeout_s=60), "the SCP did not answer C-ECHO"
        files = sample_files("CT_small.dcm", "MR_small_RLE.dcm")
        assert send_pynetdicom(port, files, calling_ae="MODALITY") == [0, 0]
        assert send_pynetdicom(port, files, calling_ae="INTRUDER") == []  # not allowed
        assert len(wait_for_drops(landing, 1)) == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    logged = out + err
    assert "complete, 2 file(s)" in logged and "rejected an association" in logged
    assert "stopped: 1 drop(s) completed, 2 file(s) stored" in logged
    for f in files:
        ds = dcmread(f, stop_before_pixels=True)
        assert str(ds.SOPInstanceUID) not in logged
        assert str(ds.PatientName) not in logged and str(ds.PatientID) not in logged
    assert str(landing) not in logged


def test_settings_come_from_arguments_then_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIXELS_LANDING", "s3://landing/zone")
    monkeypatch.setenv("PIXELS_SCP_ALLOWED_AE", "PACS,CT1")
    monkeypatch.setenv("PIXELS_SCP_ALLOWED_NETWORKS", "10.0.0.0/8")
    config, level = parse_args(["--host", "0.0.0.0", "--max-dataset-mb", "1"])
    assert level == "INFO"
    assert (config.landing, config.host, config.port) == ("s3://landing/zone", "0.0.0.0", 11112)
    assert config.allowed_ae_titles == ("PACS", "CT1")
    assert config.allowed_networks == ("10.0.0.0/8",)
    assert config.max_dataset_bytes == 1024 * 1024
    assert parse_args(["--landing", "/l", "--allow-ae", "X"])[0].allowed_ae_titles == ("X",)
    monkeypatch.delenv("PIXELS_LANDING")
    with pytest.raises(SystemExit):
        parse_args([])


@pytest.mark.parametrize("module", ["pixels_pipeline.scp", "pixels_pipeline.scp.__main__"])
def test_scp_loads_neither_spark_nor_dagster(module: str) -> None:
    code = (
        f"import sys, importlib; importlib.import_module({module!r}); "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('pyspark', 'dagster')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
