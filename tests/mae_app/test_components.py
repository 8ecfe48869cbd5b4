"""The checked image input: unreadable uploads reach the handler as their file, and the handler that reads them
refuses them with the engine's reason (not gradio's bare "Error" over every output). Events that show a control's
latest value follow it (FOLLOW_LATEST)."""

from __future__ import annotations

import gradio as gr
import pytest
from gradio.data_classes import ImageData
from PIL import Image

from mae_app import build_demo
from mae_app.components import checked_image
from mae_app.inputs import read_image
from tests.conftest import make_image


def test_checked_image_passes_a_non_image_on_for_its_reader_to_refuse(tmp_path):
    component = checked_image(type="filepath")
    bogus = tmp_path / "fake.jpg"
    bogus.write_bytes(b"GIF89a broken")
    passed = component.preprocess(ImageData(path=str(bogus), orig_name="fake.jpg"))
    assert passed == str(bogus)
    with pytest.raises(gr.Error, match="not an image"):
        read_image(passed)
    good = tmp_path / "good.png"
    make_image().save(good)
    assert component.preprocess(ImageData(path=str(good), orig_name="good.png")) == str(good)


def test_checked_image_passes_a_decompression_bomb_on_for_its_reader_to_refuse(tmp_path, monkeypatch):
    bomb = tmp_path / "bomb.png"
    Image.new("L", (200, 200)).save(bomb)  # tiny file; Pillow's limit lowered below its pixel count
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)
    component = checked_image(type="filepath")
    passed = component.preprocess(ImageData(path=str(bomb), orig_name="bomb.png"))
    with pytest.raises(gr.Error, match="decompression bomb"):
        read_image(passed)


# the events whose outputs show what a control now says: a stroke, a typed patch list, a layer, head or patch
# picked, a number of masks, a metric, a seed, a threshold
FOLLOWING = {
    ("mask-painter", "input"),
    ("removed-patches", "submit"),
    ("attention-layer", "input"),
    ("attention-head", "input"),
    ("attention-patch", "submit"),
    ("attention-top", "select"),
    ("attention-bottom", "select"),
    ("uncertainty-masks", "submit"),
    ("difference-metric", "input"),
    ("drill-seed", "input"),
    ("breakdown-threshold", "submit"),
}


def test_events_that_show_a_controls_value_run_its_last_trigger_and_strokes_are_stamped_first(tiny_app):
    demo = build_demo(tiny_app)
    events = []  # (elem_id, event, trigger_mode, input elem_ids, js), in the order the page dispatches them
    for dependency in demo.config["dependencies"]:
        inputs = [demo.blocks[i].elem_id for i in dependency["inputs"]]
        for target, event in dependency["targets"]:  # (the page's own load event has no block)
            events.append(
                (
                    getattr(demo.blocks.get(target), "elem_id", None),
                    event,
                    dependency["trigger_mode"],
                    inputs,
                    dependency["js"],
                )
            )
    modes = {(elem_id, event): mode for elem_id, event, mode, inputs, js in events if js is None}
    assert {key: modes.get(key) for key in FOLLOWING} == dict.fromkeys(FOLLOWING, "always_last")
    # a stroke: first the browser's clock (no server call), then the preview that reads it with the painting
    stroke = [(mode, inputs, js) for elem_id, event, mode, inputs, js in events if elem_id == "mask-painter"]
    assert [(mode, bool(js)) for mode, _, js in stroke] == [("multiple", True), ("always_last", False)]
    assert stroke[1][1][:2] == ["mask-painter", "stroke-time"]
