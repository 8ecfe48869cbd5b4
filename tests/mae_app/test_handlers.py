"""The app's handlers called as plain functions, on tiny random models and a temporary run store."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from PIL import Image

from mae_app.handlers import EXAMPLES_DIR, MAEApp
from mae_app.inputs import SEED_LIMIT
from mae_app.panels import BAR_WIDTH, GAP, SCALE_WIDTH
from mae_core.evaluation.heatmap import VISIBLE_GREY, error_heatmap
from mae_core.evaluation.reconstruct import masked_preview, reconstruct
from tests.conftest import make_image
from tests.fake_caches import add_lpips_standin, add_to_hf_cache
from tests.mae_app.helpers import NAMES, make_app, run_to_end


# ---- Compare ----
def read_panels(outputs) -> list[np.ndarray]:
    """The ten PNG panels of a compare result as arrays (each checked to be a PNG file)."""
    arrays = []
    for path in outputs[:10]:
        with Image.open(path) as img:
            assert img.format == "PNG"
            arrays.append(np.asarray(img.convert("RGB")))
    return arrays


def test_compare_gives_two_aligned_rows_with_the_same_mask(tiny_app, image_file):
    *paths, table, note = tiny_app.compare(image_file, *NAMES, 0.5, 3)
    images = read_panels(paths)
    assert len(images) == 10
    for index, panel in enumerate(images):
        assert panel.dtype == np.uint8
        assert panel.shape == (32, 32, 3) if index % 5 != 4 else panel.shape[:2] == (224, 224 + SCALE_WIDTH)
    top, bottom = images[:5], images[5:]
    np.testing.assert_array_equal(top[0], bottom[0])  # same input
    np.testing.assert_array_equal(top[1], bottom[1])  # same masked view: the same patches were removed
    assert not np.array_equal(top[2], bottom[2])  # two different models reconstruct differently
    # the heatmap (enlarged 7x to 224 px) greys exactly the visible patches: 16 patches, ratio 0.5 keeps 8, each
    # an 8x8 block, 56x56 enlarged
    grey = (top[4][:, :224] == VISIBLE_GREY).all(axis=-1)
    assert grey.sum() == 8 * 56 * 56
    assert list(table["checkpoint"]) == list(NAMES)
    assert list(table["loss_type"]) == ["pixel", "gan"]
    assert (table["masked_patches"] == 8).all()
    assert (table["psnr_db"] > 0).all() and (table["mse"] > 0).all()
    assert "same mask: 8 of 16" in note


def test_the_error_heatmap_carries_its_colour_bar_with_the_shared_scale(tiny_app, image_file):
    """Beside each row's heatmap: a bar of the heatmap's colours from the shared maximum (top) to 0 (bottom), and its
    numbers; the brightest removed patch has the bar's top colour."""
    *paths, _, note = tiny_app.compare(image_file, *NAMES, 0.5, 3)
    vmax = float(re.search(r"from 0 to ([0-9.e+-]+) MSE", note).group(1))
    heatmaps = [read_panels(paths)[i] for i in (4, 9)]
    expected_bar = error_heatmap(np.array([[vmax], [0.0]]), np.ones((2, 1)), (2, 1), vmax=vmax)[:, 0]  # top, bottom
    for heatmap in heatmaps:
        bar = heatmap[:, 224 + GAP : 224 + GAP + BAR_WIDTH]
        assert (bar == bar[:, :1]).all()  # one colour per row
        np.testing.assert_array_equal(bar[[0, -1], 0], expected_bar)
        assert len(np.unique(bar[:, 0], axis=0)) > 50  # a gradient, not a block
        numbers = heatmap[:, 224 + 2 * GAP + BAR_WIDTH :]
        dark_rows = np.flatnonzero((numbers < 100).all(axis=-1).any(axis=1))
        assert dark_rows.min() < 30 and 100 < np.median(dark_rows) < 124 and dark_rows.max() > 194  # 3 numbers
    top_colours = {tuple(c) for h in heatmaps for c in h[:, :224].reshape(-1, 3)}
    assert tuple(expected_bar[0]) in top_colours  # the worst patch of the two rows reaches the top of the scale
    assert heatmaps[0].shape[1] == 224 + SCALE_WIDTH


def test_compare_table_shows_every_computed_metric_and_says_how_to_get_lpips(tiny_app, image_file):
    *_, table, note = tiny_app.compare(image_file, *NAMES, 0.5, 3)
    assert {"ssim", "detail", "visible_loss"} <= set(table.columns) and "lpips" not in table.columns
    assert table[["ssim", "detail", "visible_loss"]].notna().all().all()
    assert "lpips skipped" in note and "python -m mae_core download lpips" in note


def test_compare_table_has_lpips_when_its_weights_are_present(tiny_app, image_file, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    add_lpips_standin(tmp_path / "torch")
    *_, table, note = tiny_app.compare(image_file, *NAMES, 0.5, 3)
    assert list(table.columns[table.columns.get_loc("ssim") :][:4]) == ["ssim", "lpips", "detail", "visible_loss"]
    assert (table["lpips"] > 0).all() and "lpips" not in note


def test_compare_is_reproducible_in_the_seed(tiny_app, image_file):
    first = tiny_app.compare(image_file, *NAMES, 0.75, 7)
    again = tiny_app.compare(image_file, *NAMES, 0.75, 7)
    other = tiny_app.compare(image_file, *NAMES, 0.75, 8)
    np.testing.assert_array_equal(read_panels(first)[1], read_panels(again)[1])
    pd.testing.assert_frame_equal(first[10], again[10])
    assert not np.array_equal(read_panels(first)[1], read_panels(other)[1])


def test_compare_loads_each_checkpoint_once(tiny_app, image_file):
    tiny_app.compare(image_file, *NAMES, 0.5, 0)
    models = [tiny_app.models.get(n) for n in NAMES]
    tiny_app.compare(image_file, *NAMES, 0.25, 1)
    assert [tiny_app.models.get(n) for n in NAMES] == models
    assert tiny_app.models.loaded() == NAMES


@pytest.mark.parametrize(
    ("image", "names", "ratio", "seed", "message"),
    [
        (None, NAMES, 0.5, 0, "Upload"),
        ("TEXT", NAMES, 0.5, 0, "not an image"),
        ("IMAGE", NAMES, 0.95, 0, "keeps no patch"),  # 16 patches: 0.95 leaves none visible
        ("IMAGE", NAMES, 0.5, -1, "seed"),
        ("IMAGE", NAMES, 0.5, 1.5, "seed"),
        ("IMAGE", ("tiny-a", "nope"), 0.5, 0, "Could not load checkpoint 'nope'"),
        ("IMAGE", ("tiny-a", ""), 0.5, 0, "Choose a checkpoint"),
    ],
)
def test_compare_turns_bad_input_into_a_message(tiny_app, image_file, tmp_path, image, names, ratio, seed, message):
    text = tmp_path / "notes.png"
    text.write_text("this is not a picture")
    path = {"TEXT": str(text), "IMAGE": image_file}.get(image, image)
    with pytest.raises(gr.Error, match=message):
        tiny_app.compare(path, *names, ratio, seed)


@pytest.mark.parametrize("strategy", ["block", "grid"])
def test_compare_with_a_seeded_strategy_uses_its_mask_in_both_rows(tiny_app, image_file, strategy):
    *paths, table, note = tiny_app.compare(image_file, *NAMES, 0.75, 2, False, strategy)
    rec = reconstruct(tiny_app.models.get(NAMES[0]), image_file, 0.75, 2, strategy=strategy)
    top, bottom = read_panels(paths)[:5], read_panels(paths)[5:]
    np.testing.assert_array_equal(top[1], rec.masked)
    np.testing.assert_array_equal(top[1], bottom[1])
    assert (table["masked_patches"] == 12).all()
    assert f"same mask: 12 of 16 patches removed ({strategy}, seed 2)" in note


@pytest.mark.parametrize("strategy", ["custom", "draw"])
def test_compare_with_drawn_patches_removes_exactly_those(tiny_app, image_file, strategy):
    *paths, table, note = tiny_app.compare(image_file, *NAMES, 0.75, 0, False, strategy, "[1, 2, 6]")
    original, masked, *_, heatmap = read_panels(paths)[:5]
    changed = (original != masked).any(axis=-1).reshape(4, 8, 4, 8).any(axis=(1, 3))  # [4, 4] patches hidden
    assert np.argwhere(changed).tolist() == [[0, 1], [0, 2], [1, 2]]
    grey = (heatmap[:, :224] == VISIBLE_GREY).all(axis=-1).reshape(4, 56, 4, 56).all(axis=(1, 3))  # enlarged 7x
    assert np.array_equal(~grey, changed)  # the heatmap colours the removed patches only
    assert (table["masked_patches"] == 3).all()
    assert "same mask: 3 of 16 patches removed (drawn)" in note


@pytest.mark.parametrize(
    "strategy, removed, message",
    [
        ("custom", "", "no patch is removed"),
        ("custom", "1, two", "whole numbers"),
        ("custom", "3, 16", r"\[0, 15\]"),
        ("custom", ",".join(map(str, range(16))), "leave at least one"),
        ("diagonal", "", "diagonal"),
    ],
)
def test_compare_refuses_bad_masks_with_a_message(tiny_app, image_file, strategy, removed, message):
    with pytest.raises(gr.Error, match=message):
        tiny_app.compare(image_file, *NAMES, 0.5, 0, False, strategy, removed)


def test_choosing_draw_shows_the_painter_with_the_model_input(tiny_app, image_file):
    painter, removed, ratio, seed, new_seed = tiny_app.drawing_canvas("custom", image_file, NAMES[0])
    assert painter["visible"] and removed["visible"] and removed["value"] == ""
    assert ratio["visible"] is False and seed["visible"] is False and new_seed["visible"] is False
    background = painter["value"]["background"]
    np.testing.assert_array_equal(background, reconstruct(tiny_app.models.get(NAMES[0]), image_file).original)
    assert painter["value"]["layers"] == []
    hidden = tiny_app.drawing_canvas("random", image_file, NAMES[0])
    assert hidden[0]["visible"] is False and hidden[2]["visible"] is True
    empty = tiny_app.drawing_canvas("custom", None, NAMES[0])
    assert empty[0]["visible"] and empty[0]["value"] is None  # no image yet: nothing to paint on


def test_painting_previews_the_hidden_patches_before_running(tiny_app, image_file):
    layer = np.zeros((32, 32, 4), dtype=np.uint8)
    layer[0:8, 8:24, 3] = 255  # patches 1 and 2 fully
    layer[8:12, 16:24, 3] = 255  # patch 6 exactly half
    layer[8:11, 24:32, 3] = 255  # patch 7: 3/8, kept
    painting = {"background": np.zeros((32, 32, 4), dtype=np.uint8), "layers": [layer], "composite": None}
    text, *panels, note = tiny_app.preview_drawing(painting, image_file, *NAMES)
    assert text == "1, 2, 6"
    assert [p is not None for p in panels] == [False, True, False, False, False] * 2  # only the masked panels
    expected = masked_preview(image_file, [1, 2, 6], img_size=32, patch_size=8)
    for path in (panels[1], panels[6]):
        with Image.open(path) as img:
            np.testing.assert_array_equal(np.asarray(img.convert("RGB")), expected)
    assert "hides 3 of 16 patches" in note
    *_, compared_note = tiny_app.compare(image_file, *NAMES, 0.5, 0, False, "custom", text)
    assert "3 of 16 patches removed (drawn)" in compared_note


def test_typed_patch_indices_preview_the_hidden_patches_before_running(tiny_app, image_file):
    *panels, note = tiny_app.preview_patches("[0, 5, 10]", image_file, *NAMES)
    assert [p is not None for p in panels] == [False, True, False, False, False] * 2  # only the masked panels
    expected = masked_preview(image_file, [0, 5, 10], img_size=32, patch_size=8)
    for path in (panels[1], panels[6]):
        with Image.open(path) as img:
            np.testing.assert_array_equal(np.asarray(img.convert("RGB")), expected)
    assert "hides 3 of 16 patches" in note
    with pytest.raises(gr.Error, match=r"\[0, 15\]"):
        tiny_app.preview_patches("3, 16", image_file, *NAMES)
    with pytest.raises(gr.Error, match="whole numbers"):
        tiny_app.preview_patches("3, x", image_file, *NAMES)
    assert tiny_app.preview_patches("3", None, *NAMES)[-1].startswith("Upload an image")


def test_an_empty_painting_hides_nothing(tiny_app, image_file):
    layer = np.zeros((32, 32, 4), dtype=np.uint8)
    layer[0:3, 0:3, 3] = 255
    text, *panels, note = tiny_app.preview_drawing({"background": None, "layers": [layer]}, image_file, *NAMES)
    assert text == "" and all(p is None for p in panels) and "Nothing hidden yet" in note
    assert tiny_app.preview_drawing(None, image_file, *NAMES)[0] == ""


def test_new_seed_draws_valid_varying_seeds():
    seeds = {MAEApp.new_seed() for _ in range(20)}
    assert len(seeds) > 1
    assert all(isinstance(s, int) and 0 <= s < SEED_LIMIT for s in seeds)


def test_on_load_offers_the_choices_and_names_the_pair(tiny_app):
    tiny_app.notes.append(lambda: "fetching vit-large-gan")
    page = tiny_app.on_load()
    assert page.first["choices"] == list(NAMES) and page.first["value"] == "tiny-a"
    assert page.second["value"] == "tiny-b"
    assert "tiny-a (top) vs tiny-b (bottom)" in page.note and "tiny test pair" in page.note
    assert "fetching vit-large-gan" in page.note
    assert page.image is None and not page.linked


# ---- page load: shared links ----
def test_a_link_sets_the_compare_controls_and_asks_for_the_compare(tiny_app):
    query = {"example": "chelsea", "a": "tiny-b", "b": "tiny-a", "ratio": "0.5", "seed": "7", "mask": "random"}
    page = tiny_app.on_load(gr.Request(query_params=query))
    assert page.image == str(EXAMPLES_DIR / "chelsea.jpg") and page.linked
    assert (page.first["value"], page.second["value"]) == ("tiny-b", "tiny-a")
    assert page.ratio["value"] == 0.5 and page.seed["value"] == 7
    assert "Link:" not in page.note


def test_a_bad_link_still_opens_the_page_with_a_note(tiny_app):
    page = tiny_app.on_load(gr.Request(query_params={"a": "vit-huge-gan", "ratio": "2", "runs": "r1"}))
    assert page.first["value"] == "tiny-a"  # the default pair, as without a link
    assert "value" not in page.ratio and not page.linked
    assert "no checkpoint 'vit-huge-gan'" in page.note and "ratio='2' ignored" in page.note
    assert page.tabs["selected"] == "runs"


def test_compare_link_names_examples_by_content_and_leaves_uploads_out(tiny_app, image_file, tmp_path):
    copy = tmp_path / "served" / "flower.jpg"  # gradio hands handlers a copy of the example in its cache
    copy.parent.mkdir()
    copy.write_bytes((EXAMPLES_DIR / "flower.jpg").read_bytes())
    link = tiny_app.compare_link(str(copy), *NAMES, 0.6000000000000001, 12.0, True)
    assert link == "?example=flower&a=tiny-a&b=tiny-b&ratio=0.6&seed=12&mask=random&crop=1"
    assert tiny_app.compare_link(image_file, *NAMES, 0.75, 0, False).startswith("?a=tiny-a&b=tiny-b&ratio=0.75")
    with pytest.raises(gr.Error, match="seed"):
        tiny_app.compare_link(image_file, *NAMES, 0.75, -1, False)


def test_links_carry_the_mask_strategy_both_ways(tiny_app, image_file):
    link = tiny_app.compare_link(image_file, *NAMES, 0.5, 3, False, "grid")
    assert "&mask=grid&" in link
    page = tiny_app.on_load(gr.Request(query_params={"mask": "block", "seed": "3"}))
    assert page.strategy["value"] == "block" and "Link:" not in page.note
    assert "value" not in tiny_app.on_load(gr.Request(query_params={"seed": "3"})).strategy
    assert "mask='custom' ignored" in tiny_app.on_load(gr.Request(query_params={"mask": "custom"})).note
    with pytest.raises(gr.Error, match="not drawn ones"):
        tiny_app.compare_link(image_file, *NAMES, 0.5, 3, False, "draw", "1, 2")


def test_the_pair_listeners_hear_each_change_once(tmp_path, tiny_checkpoints):
    pairs = [("tiny-a", "tiny-b"), ("tiny-a", "tiny-b"), ("tiny-b", "tiny-a")]
    app = make_app(tmp_path / "runs", tiny_checkpoints)
    app.default_pair = lambda: (*pairs.pop(0), "note")
    heard = []
    app.pair_listeners.append(lambda *pair: heard.append(pair))
    for _ in range(3):
        app.page_pair()
    assert heard == [("tiny-a", "tiny-b"), ("tiny-b", "tiny-a")]


# ---- Sweep and Runs ----
def test_sweep_writes_a_run_and_returns_plot_table_and_csv(tiny_app, image_file, tmp_path):
    other = tmp_path / "second.jpg"
    make_image(40, 48, seed=1).save(other)
    fractions = []
    (plot, table, csv_path, note), notes = run_to_end(
        tiny_app.sweep,
        image_file,
        [image_file, str(other)],
        *NAMES,
        0.25,
        0.75,
        0.25,
        2,
        10,
        "psnr",
        progress=lambda fraction, desc=None: fractions.append(fraction),
    )
    assert fractions[0] == 0.0 and fractions[-1] == 1.0 and fractions == sorted(fractions)
    # a note per batch while it runs (notes that queued up while the page was busy are merged)
    done = [int(re.search(r"(\d+) of 24 reconstructions", note).group(1)) for note in notes]
    assert done == sorted(done) and done[-1] == 24
    assert "24 of 24 reconstructions done (100 %)" in notes[-1]
    assert isinstance(plot, go.Figure)
    # 2 checkpoints x 3 ratios, each over 2 images x 2 seeds
    assert len(table) == 6 and set(table["checkpoint"]) == set(NAMES)
    assert (table["n_images"] == 2).all() and (table["n_seeds"] == 2).all()
    rows = pd.read_csv(csv_path)
    assert len(rows) == 2 * 2 * 3 * 2
    assert sorted(rows["seed"].unique()) == [10, 11]
    run_id = rows["run_id"].iloc[0]
    assert run_id in note and "24 rows" in note

    runs, picker = tiny_app.list_runs()
    assert list(runs["run_id"]) == [run_id] and picker["choices"] == [run_id] and picker["value"] == [run_id]
    assert runs["status"].iloc[0] == "finished" and runs["images"].iloc[0] == 2

    summary, paired, paired_note, figure, export = tiny_app.show_runs([run_id], "loss")
    assert len(summary) == 6 and paired_note == ""
    assert list(paired["mask_ratio"]) == [0.25, 0.5, 0.75] and (paired["n_images"] == 2).all()
    assert isinstance(figure, go.Figure)
    assert len(pd.read_csv(export)) == 24


def test_cancel_stops_a_running_sweep_after_its_batch_and_keeps_its_rows(tiny_app, image_file, monkeypatch):
    from experiments import sweep as sweep_module

    held, release = threading.Event(), threading.Event()

    def held_sweep(config, *, progress, **options):
        def report(done: int, total: int) -> None:
            progress(done, total)  # raises once the sweep was cancelled
            if done:  # hold the study after its first batch until the test has asked to cancel
                held.set()
                release.wait(30)

        return sweep_module.run_sweep(config, progress=report, **options)

    monkeypatch.setattr("mae_app.handlers.sweep.run_sweep", held_sweep)
    request = gr.Request(session_hash="page-1")
    # 2 checkpoints x 3 ratios x 10 seeds: 30 cells per checkpoint, in batches of 16 -> 4 batches
    steps = tiny_app.sweep(image_file, None, *NAMES, 0.25, 0.75, 0.25, 10, 0, "loss", request=request)
    streamed = []

    def read_stream() -> None:  # the page, reading the stream
        streamed.extend(steps)

    consumer = threading.Thread(target=read_stream, daemon=True)
    consumer.start()
    assert held.wait(30)
    assert tiny_app.cancel_sweep(gr.Request(session_hash="another-page")) == "No sweep of this page is running."
    answer = tiny_app.cancel_sweep(request)
    assert answer == "Cancelling: the sweep stops after the batch in flight (16 of 60 reconstructions done)."
    release.set()
    consumer.join(30)
    runs, _ = tiny_app.list_runs()
    run_id = runs["run_id"].iloc[0]
    assert runs["status"].iloc[0] == "interrupted"
    rows = len(pd.read_csv(Path(tiny_app.run_root) / run_id / "losses.csv"))
    assert rows == 16 + 14  # the held batch and the one in flight when the cancel came, not the whole study
    assert tiny_app.cancel_sweep(request) == "No sweep of this page is running."
    # not an error: the stream ends with what was measured, its plot, table and CSV
    plot, table, csv_path, note = streamed[-1]
    assert isinstance(plot, go.Figure)
    measured = pd.read_csv(csv_path)
    assert len(measured) == rows
    assert set(table["checkpoint"]) == set(measured["checkpoint"]) and len(table)
    assert note == (
        f"Cancelled after {rows} of 60 reconstructions: run **{run_id}** keeps them and is marked interrupted "
        "(the Runs tab lists it)."
    )


def test_sweep_with_several_mask_strategies_plots_a_line_per_checkpoint_and_strategy(tiny_app, image_file):
    (plot, table, csv_path, note), _ = run_to_end(
        tiny_app.sweep, image_file, None, *NAMES, 0.5, 0.75, 0.25, 2, 0, "mse", False, ["grid", "block"]
    )
    rows = pd.read_csv(csv_path)
    assert len(rows) == 2 * 2 * 2 * 2 and set(rows["mask"]) == {"grid", "block"}
    assert (rows.groupby(["mask", "mask_ratio", "seed"])["mask_hash"].nunique() == 1).all()
    pairs = [(c, m) for c in NAMES for m in ("grid", "block")]
    assert sorted(zip(table["checkpoint"], table["mask"])) == sorted(pairs * 2)  # x 2 ratios
    levels = [trace.name for trace in plot.data if trace.xaxis == "x" and trace.showlegend is not False]
    assert sorted(set(levels)) == sorted(
        f"{c} ({t}), {m}" for c, t in zip(NAMES, ("pixel", "gan")) for m in ("grid", "block")
    )
    for bad, message in (([], "at least one"), (["custom"], "drawn")):
        with pytest.raises(gr.Error, match=message):
            run_to_end(tiny_app.sweep, image_file, None, *NAMES, 0.5, 0.5, 0.1, 1, 0, "mse", False, bad)


def test_a_sweep_showing_spread_measures_it_over_each_cells_seeds(tiny_app, image_file):
    from mae_core.evaluation.uncertainty import mask_uncertainty

    (plot, table, csv_path, note), _ = run_to_end(
        tiny_app.sweep, image_file, None, *NAMES, 0.5, 0.75, 0.25, 3, 4, "spread"
    )
    rows = pd.read_csv(csv_path)
    assert rows["spread"].notna().all() and rows["ssim"].notna().all()  # spread added to the default metrics
    assert (rows.groupby(["checkpoint", "mask_ratio"])["spread"].nunique() == 1).all()  # one value per cell
    row = rows[(rows["checkpoint"] == NAMES[1]) & (rows["mask_ratio"] == 0.75)].iloc[0]
    expected = mask_uncertainty(tiny_app.model(NAMES[1]), image_file, 0.75, seeds=[4, 5, 6]).mean_spread
    assert row["spread"] == pytest.approx(expected, rel=1e-5)
    assert len(table) == 4 and table["mean"].notna().all()
    # any other metric keeps the default set (no spread column filled)
    (_, _, csv_path, _), _ = run_to_end(tiny_app.sweep, image_file, None, *NAMES, 0.5, 0.5, 0.1, 2, 0, "loss")
    assert pd.read_csv(csv_path)["spread"].isna().all()


def test_sweep_uses_the_compare_image_without_a_batch(tiny_app, image_file):
    (_, table, csv_path, _), _ = run_to_end(tiny_app.sweep, image_file, None, *NAMES, 0.5, 0.5, 0.1, 1, 0, "loss")
    rows = pd.read_csv(csv_path)
    assert len(rows) == 2 and rows["image"].iloc[0] == Path(image_file).name  # uploads are named by file name


def test_sweep_reports_unreadable_batch_files(tiny_app, image_file, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff not really")
    (_, _, csv_path, note), _ = run_to_end(
        tiny_app.sweep, None, [image_file, str(broken)], *NAMES, 0.5, 0.5, 0.1, 1, 0, "mse"
    )
    assert len(pd.read_csv(csv_path)) == 2
    assert "Skipped" in note and "broken.jpg" in note


@pytest.mark.parametrize(
    ("image", "batch", "ratios", "seeds", "message"),
    [
        (None, None, (0.5, 0.5, 0.1), 1, "Upload images"),
        (None, ["LIST"], (0.5, 0.5, 0.1), 1, "not lists of paths"),
        ("IMAGE", None, (0.05, 0.95, 0.05), 1000, "at most"),
        ("IMAGE", None, (0.5, 0.5, 0.1), 0, "number of seeds"),
    ],
)
def test_sweep_refuses_bad_requests(tiny_app, image_file, tmp_path, image, batch, ratios, seeds, message):
    listing = tmp_path / "paths.txt"
    listing.write_text(image_file)
    image = image_file if image == "IMAGE" else image
    batch = [str(listing)] if batch else batch
    with pytest.raises(gr.Error, match=message):
        run_to_end(tiny_app.sweep, image, batch, *NAMES, *ratios, seeds, 0, "loss")
    assert tiny_app.list_runs()[0].empty


def test_show_runs_with_one_checkpoint_explains_the_missing_pairs(tiny_app, image_file):
    run_to_end(tiny_app.sweep, image_file, None, "tiny-a", "tiny-a", 0.5, 0.5, 0.1, 2, 0, "loss")
    run_id = tiny_app.list_runs()[0]["run_id"].iloc[0]
    summary, paired, paired_note, _, _ = tiny_app.show_runs([run_id], "loss")
    assert len(summary) == 1 and paired.empty and "No paired difference" in paired_note
    with pytest.raises(gr.Error, match="Pick"):
        tiny_app.show_runs([], "loss")
    with pytest.raises(gr.Error, match="no run"):
        tiny_app.show_runs(["20990101-000000-ffffff"], "loss")


def test_show_runs_counts_a_run_loaded_twice_once_and_names_left_out_images(tiny_app, image_file, tmp_path):
    other = tmp_path / "other.png"
    make_image(seed=5).save(other)
    run_to_end(tiny_app.sweep, None, [image_file, str(other)], *NAMES, 0.5, 0.75, 0.25, 2, 0, "loss")
    run_id = tiny_app.list_runs()[0]["run_id"].iloc[0]
    losses = tiny_app.run_root / run_id / "losses.csv"
    lines = losses.read_text().splitlines(keepends=True)
    kept = [line for line in lines if not ("other.png" in line and ",0.75," in line)]
    losses.write_text("".join(kept))  # as if the run had been cut before other.png's last ratio
    summary, paired, note, _, _ = tiny_app.show_runs([run_id, run_id], "loss")
    assert set(summary["n_images"]) == {1} and set(summary["n_seeds"]) == {2}
    assert "duplicate row(s) of the same cells counted once" in note
    assert "1 image(s) without every cell were left out: `" in note and "other.png" in note


# ---- Checkpoints ----
@pytest.fixture
def empty_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("MAE_CHECKPOINTS_FILE", raising=False)
    for var in ("HF_HUB_OFFLINE", "MAE_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def test_checkpoints_panel_offers_downloads_when_online(empty_caches, tmp_path, tiny_checkpoints):
    fetched = []
    panel_app = make_app(tmp_path / "runs", tiny_checkpoints, download=fetched.append)
    table, picker, button, note = panel_app.checkpoints()
    status = dict(zip(table["name"], table["status"]))
    assert status["vit-large-gan"] == "missing" and status["vit-large-pixel"] == "missing"
    assert picker["visible"] and button["visible"] and "vit-large-gan" in picker["choices"]
    assert "Not on disk" in note
    *_, message = panel_app.download_checkpoint("vit-large-gan")
    assert fetched == ["vit-large-gan"] and message.startswith("Downloaded vit-large-gan")


def test_checkpoints_panel_explains_offline_mode(empty_caches, tmp_path, tiny_checkpoints):
    empty_caches.setenv("HF_HUB_OFFLINE", "1")
    table, picker, button, note = make_app(tmp_path / "runs", tiny_checkpoints, download=print).checkpoints()
    assert not picker["visible"] and not button["visible"]
    assert "Offline" in note and "python -m mae_core download" in note
    assert len(table) >= 6


def test_download_failure_is_a_message(empty_caches, tmp_path, tiny_checkpoints):
    def refuse(name: str) -> None:
        raise OSError(f"cannot reach the server for {name}")

    with pytest.raises(gr.Error, match="cannot reach the server for vit-base-pixel"):
        make_app(tmp_path / "runs", tiny_checkpoints, download=refuse).download_checkpoint("vit-base-pixel")


def test_checkpoints_on_a_space_show_cache_places_not_server_paths(empty_caches, tmp_path, tiny_checkpoints):
    weights = tmp_path / "pytorch_model.bin"
    weights.write_bytes(b"w")
    add_to_hf_cache(tmp_path / "hf", "facebook/vit-mae-large", {"pytorch_model.bin": weights})
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / "mae_visualize_vit_large_ganloss.pth").write_bytes(b"g")
    app = make_app(tmp_path / "runs", tiny_checkpoints)
    local = dict(zip(*app.checkpoints()[0][["name", "where"]].to_numpy().T))
    assert local["vit-large-pixel"].startswith(str(tmp_path / "hf"))  # off a Space: the full path
    empty_caches.setenv("SPACE_ID", "someone/mae-inspect")
    where = dict(zip(*app.checkpoints()[0][["name", "where"]].to_numpy().T))
    assert where["vit-large-pixel"] == "Hugging Face cache: facebook/vit-mae-large/pytorch_model.bin"
    assert where["vit-large-gan"] == "torch hub cache: mae_visualize_vit_large_ganloss.pth"
    assert where["vit-base-pixel"] == "not downloaded"
    assert where["tiny-pixel"] == "bundled: tiny-pixel.safetensors"
    assert not any(str(tmp_path) in text or text.startswith("/") for text in where.values())


def test_a_kept_aspect_is_not_put_in_a_link(tiny_app, image_file):
    with pytest.raises(gr.Error, match="untick 'Keep aspect' to share"):
        tiny_app.compare_link(image_file, "tiny-pixel", "tiny-gan", 0.5, 0, False, "random", "", True)
    assert "seed=0" in tiny_app.compare_link(image_file, "tiny-pixel", "tiny-gan", 0.5, 0, False, "random", "", False)
