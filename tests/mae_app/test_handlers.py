"""The app's handlers called as plain functions, on tiny random models and a temporary run store."""

from __future__ import annotations

import gradio as gr
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from PIL import Image

from mae_app.handlers import MAEApp
from mae_app.inputs import SEED_LIMIT
from mae_core.heatmap import VISIBLE_GREY
from tests.conftest import make_image
from tests.mae_app.helpers import NAMES, make_app


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
    for panel in images:
        assert panel.shape == (32, 32, 3) and panel.dtype == np.uint8
    top, bottom = images[:5], images[5:]
    np.testing.assert_array_equal(top[0], bottom[0])  # same input
    np.testing.assert_array_equal(top[1], bottom[1])  # same masked view: the same patches were removed
    assert not np.array_equal(top[2], bottom[2])  # two different models reconstruct differently
    # the heatmap greys exactly the visible patches: 16 patches, ratio 0.5 keeps 8, each an 8x8 block
    grey = (top[4] == VISIBLE_GREY).all(axis=-1)
    assert grey.sum() == 8 * 64
    assert list(table["checkpoint"]) == list(NAMES)
    assert list(table["loss_type"]) == ["pixel", "gan"]
    assert (table["masked_patches"] == 8).all()
    assert (table["psnr_db"] > 0).all() and (table["mse"] > 0).all()
    assert "same mask: 8 of 16" in note


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


def test_new_seed_draws_valid_varying_seeds():
    seeds = {MAEApp.new_seed() for _ in range(20)}
    assert len(seeds) > 1
    assert all(isinstance(s, int) and 0 <= s < SEED_LIMIT for s in seeds)


def test_on_load_offers_the_choices_and_names_the_pair(tiny_app):
    tiny_app.notes.append(lambda: "fetching vit-large-gan")
    top, bottom, note = tiny_app.on_load()
    assert top["choices"] == list(NAMES) and top["value"] == "tiny-a"
    assert bottom["value"] == "tiny-b"
    assert "tiny-a (top) vs tiny-b (bottom)" in note and "tiny test pair" in note
    assert "fetching vit-large-gan" in note


# ---- Sweep and Runs ----
def test_sweep_writes_a_run_and_returns_plot_table_and_csv(tiny_app, image_file, tmp_path):
    other = tmp_path / "second.jpg"
    make_image(40, 48, seed=1).save(other)
    fractions = []
    plot, table, csv_path, note = tiny_app.sweep(
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
    assert isinstance(plot, Figure)
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
    assert isinstance(figure, Figure)
    assert len(pd.read_csv(export)) == 24


def test_sweep_uses_the_compare_image_without_a_batch(tiny_app, image_file):
    _, table, csv_path, _ = tiny_app.sweep(image_file, None, *NAMES, 0.5, 0.5, 0.1, 1, 0, "loss")
    rows = pd.read_csv(csv_path)
    assert len(rows) == 2 and rows["image"].iloc[0] == image_file


def test_sweep_reports_unreadable_batch_files(tiny_app, image_file, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff not really")
    _, _, csv_path, note = tiny_app.sweep(None, [image_file, str(broken)], *NAMES, 0.5, 0.5, 0.1, 1, 0, "mse")
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
        tiny_app.sweep(image, batch, *NAMES, *ratios, seeds, 0, "loss")
    assert tiny_app.list_runs()[0].empty


def test_show_runs_with_one_checkpoint_explains_the_missing_pairs(tiny_app, image_file):
    tiny_app.sweep(image_file, None, "tiny-a", "tiny-a", 0.5, 0.5, 0.1, 2, 0, "loss")
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
    tiny_app.sweep(None, [image_file, str(other)], *NAMES, 0.5, 0.75, 0.25, 2, 0, "loss")
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
