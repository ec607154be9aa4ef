"""Real Dagster runs of thumbnails and patches over the drop of every pydicom test file."""

import io
import json
from pathlib import Path
from typing import Any

import deltalake
import numpy as np
import pydicom
import pytest
from PIL import Image

from pixels_pipeline.assets.metadata import metadata
from pixels_pipeline.assets.object_catalog import object_catalog
from pixels_pipeline.assets.patches import patches
from pixels_pipeline.assets.thumbnails import thumbnails

from ..conftest import TEST_FILES_DROP, all_test_files, materialize_drop

pytestmark = [pytest.mark.spark, pytest.mark.dagster]
# gdcm aborts the whole process on these (FACTS.md); they must not take the run down.
GDCM_CRASHERS = ("rtdose_1frame.dcm", "rtdose_expb_1frame.dcm", "rtdose_rle_1frame.dcm")


@pytest.fixture(scope="module")
def lake(spark: object, landing: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    lake = tmp_path_factory.mktemp("lake")
    result = materialize_drop(
        [object_catalog, metadata, thumbnails, patches],
        TEST_FILES_DROP,
        landing,
        lake,
        run_config={"ops": {"patches": {"config": {"size": 64, "min_foreground": 0.0}}}},
    )
    assert result.success
    mats = {
        m.asset_key.path[-1]: m.metadata
        for m in result.get_asset_materialization_events()
        for m in [m.materialization]
    }
    (lake / "materializations.json").write_text(
        json.dumps({k: {n: str(v.value) for n, v in md.items()} for k, md in mats.items()})
    )
    return lake


def rows(lake: Path, table: str) -> dict[str, dict[str, Any]]:
    data = deltalake.DeltaTable(str(lake / table)).to_pyarrow_table().to_pylist()
    return {r["path"].split(f"{TEST_FILES_DROP}/", 1)[1]: r for r in data}


def test_every_dicom_file_gets_a_thumbnail_or_a_typed_error(lake: Path) -> None:
    catalog = rows(lake, "object_catalog")
    thumbs = rows(lake, "thumbnails")
    assert set(thumbs) == {p for p, r in catalog.items() if r["is_dicom"]}
    rendered = [r for r in thumbs.values() if r["error_type"] is None]
    assert len(rendered) >= 85
    for r in rendered:
        img = Image.open(io.BytesIO(r["thumbnail_png"]))
        assert img.size == (r["width"], r["height"]) and max(img.size) <= 256
        assert json.loads(r["settings"])
    errors = {r["error_type"] for r in thumbs.values() if r["error_type"]}
    assert errors <= {
        "no_pixel_data",
        "decode_error",
        "truncated",
        "invalid_header",
        "unsupported_transfer_syntax",
        "not_dicom",
    }
    assert thumbs["rtplan.dcm"]["error_type"] == "no_pixel_data"
    assert thumbs["MR_truncated.dcm"]["error_type"] == "truncated"


def test_gdcm_crash_files_render_in_the_run(lake: Path) -> None:
    thumbs = rows(lake, "thumbnails")
    for name in GDCM_CRASHERS:
        assert thumbs[name]["error_type"] is None, thumbs[name]["error_message"]
        assert thumbs[name]["decoder"] != "gdcm"


def test_monochrome1_is_inverted_in_the_pipeline(lake: Path, landing: Path) -> None:
    thumbs = rows(lake, "thumbnails")
    name = next(
        p
        for p in thumbs
        if thumbs[p]["error_type"] is None
        and pydicom.dcmread(landing / TEST_FILES_DROP / p, stop_before_pixels=True).get(
            "PhotometricInterpretation"
        )
        == "MONOCHROME1"
    )
    ds = pydicom.dcmread(landing / TEST_FILES_DROP / name)
    stored = ds.pixel_array.astype(float)
    shown = np.asarray(Image.open(io.BytesIO(thumbs[name]["thumbnail_png"])).convert("L"), float)
    small = np.asarray(Image.fromarray(stored).resize(shown.shape[::-1]), float)
    assert np.corrcoef(small.ravel(), shown.ravel())[0, 1] < -0.5


def test_patches_cover_frames_and_crashers_survive(lake: Path, landing: Path) -> None:
    tiles = deltalake.DeltaTable(str(lake / "patches")).to_pyarrow_table().to_pylist()
    ct = [t for t in tiles if t["path"].endswith("/CT_small.dcm")]
    assert len(ct) == (128 // 64) ** 2
    assert sum(t["width"] * t["height"] for t in ct) == 128 * 128
    first = next(t for t in ct if t["x"] == 0 and t["y"] == 0)
    arr = np.frombuffer(first["data"], first["dtype"]).reshape(first["shape"])
    expected = pydicom.dcmread(landing / TEST_FILES_DROP / "CT_small.dcm").pixel_array[:64, :64]
    assert first["encoding"] == "raw" and np.array_equal(arr, expected)
    for name in GDCM_CRASHERS:
        assert any(t["path"].endswith("/" + name) and t["error_type"] is None for t in tiles)
    files = {t["path"] for t in tiles}
    assert len(files) <= len(all_test_files())


def test_gallery_and_preview_are_written(lake: Path) -> None:
    folder = lake / "_gallery" / TEST_FILES_DROP
    page = (folder / "index.html").read_text()
    # Captioned by row id, never by file name (names can be PHI).
    assert page.count("<figure id=") >= 85 and "CT_small.dcm" not in page
    sheet = Image.open(folder / "contact_sheet.png")
    assert sheet.width > 500 and sheet.height > 500
    mats = json.loads((lake / "materializations.json").read_text())
    assert mats["thumbnails"]["preview"].startswith("![contact sheet](data:image/png;base64,")
