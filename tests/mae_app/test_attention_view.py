"""The attention view: the ``/attention`` endpoint driven by gradio_client on the launched app (both rows under the
Compare's mask, the library's maps drawn, the encoder or decoder chosen by the clicked token), and its input rules."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from mae_app.attention_view import AttentionQuery, AttentionView, attention_query
from mae_core import load_model, reconstruct
from mae_core.evaluation.attention_overlay import attention_overlay
from tests.mae_app.helpers import NAMES, make_app, serve


@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_checkpoints) -> Iterator[tuple[dict, str]]:
    app = make_app(tmp_path_factory.mktemp("runs"), tiny_checkpoints)
    with serve(app) as (_, url):
        yield tiny_checkpoints, url


def pixels(path: str) -> np.ndarray:
    with Image.open(path) as img:
        assert img.format == "PNG"
        return np.asarray(img.convert("RGB"))


def test_attention_endpoint_draws_each_checkpoints_map_under_one_mask(served, image_file):
    files, url = served
    client = Client(url, verbose=False)
    top, bottom, note = client.predict(handle_file(image_file), *NAMES, 0.5, 3, False, api_name="/attention")
    # the library, on the same checkpoint files, image and mask: the class token's rollout of each checkpoint
    maps = [reconstruct(load_model(files[name]), image_file, 0.5, 3, attentions=True) for name in NAMES]
    grids = [rec.attention.encoder_map().grid for rec in maps]
    vmax = max(float(np.nanmax(grid)) for grid in grids)
    for path, rec, grid in zip((top, bottom), maps, grids):
        np.testing.assert_array_equal(pixels(path), attention_overlay(rec.masked, grid, vmax=vmax))
    assert not np.array_equal(grids[0], grids[1])  # two checkpoints, two maps: a row mix-up could not pass
    # both rows under the Compare's mask: the same removed patches, left as /compare's masked panel shows them
    masked = pixels(client.predict(handle_file(image_file), *NAMES, 0.5, 3, False, api_name="/compare")[1])
    removed = maps[0].mask.astype(bool).repeat(8, axis=0).repeat(8, axis=1)
    assert removed.sum() == 8 * 64
    for path in (top, bottom):
        np.testing.assert_array_equal(pixels(path)[removed], masked[removed])
    assert "**top** (tiny-a): encoder rollout, from the class token" in note
    assert "**bottom** (tiny-b)" in note and "on the class token" in note


def test_the_token_chooses_encoder_or_decoder_and_layers_heads_are_checked(served, image_file):
    files, url = served
    client = Client(url, verbose=False)
    rec = reconstruct(load_model(files[NAMES[0]]), image_file, 0.5, 3, attentions=True)
    visible, removed = int(rec.attention.visible[0]), int(rec.attention.removed[0])
    args = (handle_file(image_file), *NAMES, 0.5, 3, False, "random", "")
    *_, note = client.predict(*args, str(visible), "1", "2", api_name="/attention")
    assert f"encoder layer 1, head 2, from the patch {visible}" in note
    top, _, note = client.predict(*args, str(removed), "-1", "mean", api_name="/attention")
    assert f"decoder layer 0, mean of heads, from the patch {removed}" in note  # the tiny decoder has one layer
    expected = rec.attention.decoder_map(removed, 0)
    assert expected.query == f"patch {removed}"
    outlined = pixels(top).reshape(4, 8, 4, 8, 3)[removed // 4, :, removed % 4]  # [8, 8, 3] the query's patch
    assert (outlined[0] == (0, 255, 255)).all()  # the query patch is outlined
    with pytest.raises(AppError, match="has no rollout"):
        client.predict(*args, str(removed), "rollout", "mean", api_name="/attention")
    with pytest.raises(AppError, match="encoder layer 5 is out of range: this model has 2"):
        client.predict(*args, "class token", "5", "mean", api_name="/attention")
    with pytest.raises(AppError, match="head must be 'mean'"):
        client.predict(*args, "", "0", "first", api_name="/attention")
    with pytest.raises(AppError, match="outside the 4x4 grid"):
        client.predict(*args, "99", "0", "mean", api_name="/attention")


def test_drawn_masks_work_and_every_parameter_is_named(served, image_file):
    _, url = served
    client = Client(url, verbose=False)
    params = client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/attention"]["parameters"]
    names = [p["parameter_name"] for p in params]
    assert names == [
        "image",
        "first",
        "second",
        "mask_ratio",
        "seed",
        "crop",
        "strategy",
        "removed",
        "patch",
        "layer",
        "head",
        "native",
    ]
    assert [p["parameter_default"] for p in params[-4:]] == ["class token", "rollout", "mean", False]
    top, bottom, note = client.predict(
        image=handle_file(image_file),
        strategy="draw",
        removed="0, 5, 10, 15",
        patch="5",
        layer="0",
        api_name="/attention",
    )
    assert "decoder layer 0, mean of heads, from the patch 5" in note
    for path in (top, bottom):
        grey = pixels(path).reshape(4, 8, 4, 8, 3)
        assert (grey[0, :, 0] == grey[0, 0, 0, 0]).all()  # patch 0 removed: the masked panel's flat colour


def test_query_text_rules():
    assert attention_query("", "rollout", "mean") == AttentionQuery(None, None, None)
    assert attention_query("Class token", "ROLLOUT", None) == AttentionQuery(None, None, None)
    assert attention_query(" 7 ", "-1", "3") == AttentionQuery(7, -1, 3)
    assert attention_query(7.0, 2.0, 0) == AttentionQuery(7, 2, 0)
    for bad in (("-3", "0", "0"), ("x", "0", "0"), ("1", "1.5", "0"), ("1", "0", "-1")):
        with pytest.raises(gr.Error):
            attention_query(*bad)


def test_closed_section_computes_nothing(tiny_app, image_file):
    app = tiny_app
    view = AttentionView(app.model)
    args = (image_file, *NAMES, 0.5, 0, False, "random", "", "", "rollout", "mean")
    assert all(isinstance(out, type(gr.skip())) for out in view.when_shown(False, *args))
    assert not view._results
    assert len(view.when_shown(True, *args)) == 3 and len(view._results) == 2
    view.attention(*args[:-2], "1", "mean")  # another layer: the two results are reused
    assert len(view._results) == 2


def test_keep_aspect_reads_the_attention_of_the_picture_compare_shows(served, image_file):
    """With "Keep aspect" (``native``), the rows' attention is the native-size reconstruction's (a 40x48 picture:
    a 5x6 patch grid on the tiny models), as /compare's panels are; drawn masks refuse it in one line."""
    files, url = served
    client = Client(url, verbose=False)
    args = (handle_file(image_file), *NAMES, 0.5, 3, False, "random", "")
    top, bottom, note = client.predict(*args, "class token", "rollout", "mean", True, api_name="/attention")
    maps = [reconstruct(load_model(files[name]), image_file, 0.5, 3, size="native", attentions=True) for name in NAMES]
    assert maps[0].attention.grid == (5, 6)
    grids = [rec.attention.encoder_map().grid for rec in maps]
    vmax = max(float(np.nanmax(grid)) for grid in grids)
    for path, rec, grid in zip((top, bottom), maps, grids):
        assert pixels(path).shape == (40, 48, 3)
        np.testing.assert_array_equal(pixels(path), attention_overlay(rec.masked, grid, vmax=vmax))
    masked = pixels(client.predict(*args, True, api_name="/compare")[1])  # /compare's masked panel, Keep aspect
    removed = maps[0].mask.astype(bool).repeat(8, axis=0).repeat(8, axis=1)
    np.testing.assert_array_equal(pixels(top)[removed], masked[removed])
    drawn = (handle_file(image_file), *NAMES, 0.5, 3, False, "draw", "0, 5")
    with pytest.raises(AppError, match="Drawn masks are drawn on the square input: untick 'Keep aspect'"):
        client.predict(*drawn, "class token", "rollout", "mean", True, api_name="/attention")


def test_a_click_on_a_rectangular_overlay_picks_the_patch_under_it(tiny_app, image_file):
    view = AttentionView(tiny_app.model)
    args = (image_file, *NAMES, 0.5, 3, False, "random", "")
    rec = view.result(*args[:1], NAMES[0], *args[3:], native=True)
    visible = int(rec.attention.visible[-1])  # row-major on the 5x6 grid
    row, col = divmod(visible, 6)
    click = SimpleNamespace(index=(col * 8 + 3, row * 8 + 5))  # (x, y) inside that patch
    assert view.pick_patch(*args, "rollout", True, 0, click) == (str(visible), "rollout")
    removed = int(rec.attention.removed[0])
    row, col = divmod(removed, 6)
    click = SimpleNamespace(index=(col * 8, row * 8))
    assert view.pick_patch(*args, "rollout", True, 0, click) == (str(removed), "-1")  # a mask token: the decoder
