"""One real Dagster run of every asset over a hostile drop: links in and out, FIFOs,
names that are not UTF-8, a DICOM file declaring an 8 GiB frame, DICOM files followed by
3 GB of zeros (sparse), and a zip of a thousand members with ``::`` and ``%`` in names.
Then a partition added by hand as ``../escape`` is refused before anything is read."""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path
from typing import Any

import deltalake
import pydicom
import pytest
from dagster import DagsterInstance, materialize

from pixels_pipeline.assets.metadata import metadata
from pixels_pipeline.assets.object_catalog import object_catalog
from pixels_pipeline.assets.patches import patches
from pixels_pipeline.assets.thumbnails import thumbnails
from pixels_pipeline.resources import LakeResource, SparkResource
from pixels_pipeline.samples import find_test_file
from pixels_pipeline.storage.local import path_bytes

from ..bounded import bounded
from ..conftest import materialize_drop

pytestmark = [pytest.mark.spark, pytest.mark.dagster]

DROP = "hostile"
CANARY_UID = "1.2.826.0.1.3680043.99.424242"  # the file outside the landing zone
ZEROS = 3 * 1024**3
MEMBERS = 1000


def source(name: str) -> Path:
    path = find_test_file(name)
    assert path is not None
    return path


def build_drop(root: Path) -> tuple[Path, tuple[Path, ...]]:
    """``(landing zone, FIFOs)``; the drop is ``<landing>/hostile``."""
    outside = root / "outside"
    outside.mkdir()
    secret = pydicom.dcmread(source("CT_small.dcm"))
    secret.SOPInstanceUID = CANARY_UID
    secret.save_as(outside / "secret.dcm")
    escape = root / "escape"  # what "<landing>/../escape" names
    escape.mkdir()
    secret.save_as(escape / "secret.dcm")
    (escape / "_SUCCESS").touch()

    landing = root / "landing"
    drop = landing / DROP
    (drop / "sub").mkdir(parents=True)
    shutil.copy(source("CT_small.dcm"), drop / "ct.dcm")
    os.symlink(outside / "secret.dcm", drop / "link_out.dcm")
    os.symlink("ct.dcm", drop / "link_in.dcm")
    os.symlink(outside, drop / "sub" / "folder_link")
    fifos = (drop / "pipe", drop / "sub" / "deep_pipe")
    for fifo in fifos:
        os.mkfifo(fifo)
    raw = os.fsencode(drop)
    shutil.copy(source("MR_small.dcm"), raw + b"/top-\xff\xfe.dcm")
    os.makedirs(raw + b"/deep/\xe9t\xe9")
    shutil.copy(source("CT_small.dcm"), raw + b"/deep/\xe9t\xe9/ct.dcm")
    huge = pydicom.dcmread(source("CT_small.dcm"))
    huge.Rows = huge.Columns = 65535  # declares one 8 GiB frame; holds 32 KiB
    huge.save_as(drop / "huge.dcm")
    for name, target in [("CT_small.dcm", "padded.dcm"), ("rtplan.dcm", "plan_padded.dcm")]:
        shutil.copy(source(name), drop / target)
        with open(drop / target, "r+b") as fh:
            fh.truncate(source(name).stat().st_size + ZEROS)
    with zipfile.ZipFile(drop / "many.zip", "w") as zf:
        for i in range(MEMBERS):
            zf.writestr(f"notes/{i:04d}.txt", f"note {i}")
        zf.write(source("CT_small.dcm"), "ab::c.dcm")
        zf.write(source("MR_small.dcm"), "100%.dcm")
    (drop / "_SUCCESS").touch()
    return landing, fifos


def rows(lake: Path, table: str) -> list[dict[str, Any]]:
    return deltalake.DeltaTable(str(lake / table)).to_pyarrow_table().to_pylist()


@pytest.fixture(scope="module")
def run(spark: object, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Any]:
    root = tmp_path_factory.mktemp("hostile")
    landing, fifos = build_drop(root)
    lake = root / "lake"
    result = bounded(
        lambda: materialize_drop(
            [object_catalog, metadata, thumbnails, patches], DROP, landing, lake
        ),
        fifos=fifos,
        timeout=900,
    )
    return landing, lake, result


def test_every_entry_is_a_row_and_only_regular_files_are_read(
    run: tuple[Path, Path, Any],
) -> None:
    landing, lake, result = run
    assert result.success
    catalog = {r["relative_path"]: r for r in rows(lake, "object_catalog")}
    expected_errors = {
        "link_out.dcm": "symlink",
        "link_in.dcm": "symlink",  # links are never followed, even inside the drop
        "sub/folder_link": "symlink",
        "pipe": "special_file",
        "sub/deep_pipe": "special_file",
    }
    files = ["ct.dcm", "top-%FF%FE.dcm", "deep/%E9t%E9/ct.dcm", "huge.dcm", "padded.dcm"]
    members = [f"many.zip::notes/{i:04d}.txt" for i in range(MEMBERS)]
    odd = ["many.zip::ab%3A%3Ac.dcm", "many.zip::100%25.dcm"]
    assert sorted(catalog) == sorted([*expected_errors, *files, "plan_padded.dcm", *members, *odd])
    assert {k: v["error_type"] for k, v in catalog.items() if v["error_type"]} == expected_errors
    assert all(catalog[k]["is_dicom"] for k in [*files, "plan_padded.dcm", *odd])
    # Names that are not UTF-8: stored as percent-encoded file:// URIs, lossless.
    for rel, raw in [("top-%FF%FE.dcm", b"top-\xff\xfe.dcm"), ("deep/%E9t%E9/ct.dcm", None)]:
        path = catalog[rel]["path"]
        assert path.startswith("file://")
        if raw is not None:
            assert path_bytes(path) == os.fsencode(landing / DROP) + b"/" + raw

    meta = {r["path"]: r for r in rows(lake, "metadata")}
    by_rel = {rel: meta[c["path"]] for rel, c in catalog.items()}
    assert CANARY_UID not in {r["sop_instance_uid"] for r in meta.values()}
    for rel, error_type in expected_errors.items():
        assert by_rel[rel]["error_type"] == error_type
    uid = {n: str(pydicom.dcmread(source(n)).SOPInstanceUID) for n in ["CT_small.dcm"]}
    uid["MR_small.dcm"] = str(pydicom.dcmread(source("MR_small.dcm")).SOPInstanceUID)
    uid["rtplan.dcm"] = str(pydicom.dcmread(source("rtplan.dcm")).SOPInstanceUID)
    for rel, name in [
        ("ct.dcm", "CT_small.dcm"),
        ("top-%FF%FE.dcm", "MR_small.dcm"),
        ("deep/%E9t%E9/ct.dcm", "CT_small.dcm"),
        ("huge.dcm", "CT_small.dcm"),
        ("padded.dcm", "CT_small.dcm"),  # 3 GB of zeros after the dataset: not walked
        ("plan_padded.dcm", "rtplan.dcm"),
        ("many.zip::ab%3A%3Ac.dcm", "CT_small.dcm"),
        ("many.zip::100%25.dcm", "MR_small.dcm"),
    ]:
        assert by_rel[rel]["error_type"] is None, rel
        assert by_rel[rel]["sop_instance_uid"] == uid[name], rel
    assert {by_rel[m]["error_type"] for m in members} == {"not_dicom"}


def test_images_are_rendered_and_huge_declarations_refused(run: tuple[Path, Path, Any]) -> None:
    _, lake, _ = run
    catalog = {r["path"]: r["relative_path"] for r in rows(lake, "object_catalog")}
    thumbs = {catalog[r["path"]]: r for r in rows(lake, "thumbnails")}
    assert sorted(thumbs) == sorted(
        [
            "ct.dcm",
            "top-%FF%FE.dcm",
            "deep/%E9t%E9/ct.dcm",
            "huge.dcm",
            "padded.dcm",
            "plan_padded.dcm",
            "many.zip::ab%3A%3Ac.dcm",
            "many.zip::100%25.dcm",
        ]
    )
    assert thumbs["huge.dcm"]["error_type"] == "image_too_large"
    assert thumbs["plan_padded.dcm"]["error_type"] == "no_pixel_data"
    rendered = [k for k, t in thumbs.items() if t["error_type"] is None]
    assert sorted(rendered) == sorted(set(thumbs) - {"huge.dcm", "plan_padded.dcm"})
    assert thumbs["padded.dcm"]["thumbnail_png"] == thumbs["ct.dcm"]["thumbnail_png"]
    tiles = [r for r in rows(lake, "patches") if catalog[r["path"]] == "huge.dcm"]
    assert [t["error_type"] for t in tiles] == ["image_too_large"]


def test_partition_added_by_hand_outside_the_landing_zone_is_refused(
    run: tuple[Path, Path, Any],
) -> None:
    landing, lake, _ = run
    version = deltalake.DeltaTable(str(lake / "object_catalog")).version()
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("drops", ["../escape"])
    result = materialize(
        [object_catalog, metadata],
        partition_key="../escape",
        instance=instance,
        resources={
            "spark": SparkResource(master="local[2]", stop_at_teardown=False),
            "lake": LakeResource(landing=str(landing), lake=str(lake)),
        },
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    error, causes = failure.event_specific_data.error, []
    while error is not None:
        causes.append((error.cls_name, error.message))
        error = error.cause
    assert any(
        cls == "InvalidDropIdError" and "invalid drop id '../escape'" in message
        for cls, message in causes
    )
    assert deltalake.DeltaTable(str(lake / "object_catalog")).version() == version
    assert CANARY_UID not in {r["sop_instance_uid"] for r in rows(lake, "metadata")}
