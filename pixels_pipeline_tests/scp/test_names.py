from datetime import datetime, timezone

import pytest

from pixels_pipeline.scp.config import ScpConfig
from pixels_pipeline.scp.names import drop_id_for, file_name_for
from pixels_pipeline.storage.landing import is_valid_drop_id

WHEN = datetime(2026, 12, 3, 14, 5, 9, tzinfo=timezone.utc)


def test_drop_id_from_calling_ae_and_utc_time() -> None:
    assert (
        drop_id_for("CT_SCANNER_3", WHEN, "0a1b2c3d")
        == "scp-CT_SCANNER_3-20261203T140509Z-0a1b2c3d"
    )


@pytest.mark.parametrize("ae", ["MY AE/../x", "  ", "", "ÄRZTE*?", "-lead.dash-", "A" * 16])
def test_any_calling_ae_gives_a_valid_drop_id(ae: str) -> None:
    drop_id = drop_id_for(ae)
    assert is_valid_drop_id(drop_id) and drop_id.startswith("scp-")
    assert "/" not in drop_id and " " not in drop_id


def test_drop_ids_of_one_sender_in_one_second_differ() -> None:
    assert drop_id_for("PACS", WHEN) != drop_id_for("PACS", WHEN)


def test_file_name_is_the_uid_or_its_hash() -> None:
    assert file_name_for("1.2.840.113619.2.55.3") == "1.2.840.113619.2.55.3.dcm"
    assert file_name_for("1.2.3\x00") == "1.2.3.dcm"  # UIDs are padded with NUL
    for hostile in ["../../etc/passwd", "1.2/3", ".hidden", "1." + "2" * 70, ""]:
        name = file_name_for(hostile)
        assert len(name) == 64 + 4 and name.endswith(".dcm") and "/" not in name


def test_config_allow_lists() -> None:
    open_door = ScpConfig(landing="x")
    assert open_door.ae_title_allowed("ANY") and open_door.address_allowed("192.0.2.7")
    strict = ScpConfig(
        landing="x", allowed_ae_titles=("PACS", "CT1 "), allowed_networks=("10.1.0.0/16", "::1")
    )
    assert strict.ae_title_allowed("CT1") and not strict.ae_title_allowed("CT2")
    assert strict.address_allowed("10.1.200.3") and strict.address_allowed("::1")
    assert not strict.address_allowed("10.2.0.1") and not strict.address_allowed("not-an-ip")


@pytest.mark.parametrize(
    "bad",
    [
        {"ae_title": "A" * 17},
        {"ae_title": "  "},
        {"allowed_ae_titles": ("",)},
        {"allowed_networks": ("10.0.0.0/33",)},
        {"max_associations": 0},
    ],
)
def test_config_rejects_bad_settings(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ScpConfig(landing="x", **bad)  # type: ignore[arg-type]
