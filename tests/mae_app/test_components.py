"""The checked image input: unreadable uploads reach the handler as their file, and the handler that reads them
refuses them with the engine's reason (not gradio's bare "Error" over every output)."""

from __future__ import annotations

import gradio as gr
import pytest
from gradio.data_classes import ImageData
from PIL import Image

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
