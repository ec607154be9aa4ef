"""The stored JSON text of a header model: compact, ordered, and always written."""

from __future__ import annotations

import json

from pixels_pipeline.dicom.json_text import dumps


def test_compact_text_in_the_given_key_order_with_utf8_text() -> None:
    model = {
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": "M\u00fcller^J\u00fcrgen"}]},
        "00080060": {"vr": "CS", "Value": ["CT"]},
        "00280030": {"vr": "DS", "Value": [0.5, 1e-05]},
    }
    text = dumps(model)
    assert text.startswith('{"00100010":{"vr":"PN","Value":[{"Alphabetic":"M\u00fcller')
    assert ": " not in text and ", " not in text
    assert json.loads(text) == model
    assert list(json.loads(text)) == list(model)


def test_models_orjson_refuses_are_written_by_the_standard_library() -> None:
    huge = {"00201041": {"vr": "IS", "Value": [2**70]}}
    surrogate = {"00081030": {"vr": "LO", "Value": ["bad \udcff byte"]}}
    assert json.loads(dumps(huge)) == huge
    assert dumps(huge) == json.dumps(huge, separators=(",", ":"))
    assert dumps(surrogate) == '{"00081030":{"vr":"LO","Value":["bad \\udcff byte"]}}'
