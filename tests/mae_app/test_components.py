"""The checked image input: unreadable uploads become a friendly message before any handler runs."""

from __future__ import annotations

import gradio as gr
import pytest
from gradio.data_classes import ImageData
from PIL import Image

from mae_app.components import checked_image
from tests.conftest import make_image


def test_checked_image_refuses_a_non_image_with_a_friendly_error(tmp_path):
    component = checked_image(type="filepath")
    bogus = tmp_path / "fake.jpg"
    bogus.write_bytes(b"GIF89a broken")
    with pytest.raises(gr.Error, match="not an image"):
        component.preprocess(ImageData(path=str(bogus), orig_name="fake.jpg"))
    good = tmp_path / "good.png"
    make_image().save(good)
    assert component.preprocess(ImageData(path=str(good), orig_name="good.png")) == str(good)


def test_checked_image_refuses_a_decompression_bomb(tmp_path, monkeypatch):
    bomb = tmp_path / "bomb.png"
    Image.new("L", (200, 200)).save(bomb)  # tiny file; Pillow's limit lowered below its pixel count
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)
    component = checked_image(type="filepath")
    with pytest.raises(gr.Error, match="decompression bomb"):
        component.preprocess(ImageData(path=str(bomb), orig_name="bomb.png"))
