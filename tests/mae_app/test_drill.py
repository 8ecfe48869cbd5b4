"""The Runs tab's drill-down as plain handler calls: ranking, row and gallery clicks, the gallery, one cell replayed."""

from __future__ import annotations

import html
import shutil
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from experiments.analysis import image_gaps
from experiments.breakdown import ImageBreakdown, parse_threshold
from experiments.replay import replay
from experiments.store import Run, load_runs
from mae_app.breakdown_view import breakdown_note
from mae_app.formatting import EMPTY_BREAKDOWN, significant
from mae_app.handlers import MAEApp
from mae_app.panels import SCALE_WIDTH
from tests.conftest import make_image
from tests.experiments.helpers import run_cli
from tests.mae_app.helpers import NAMES, run_to_end

RATIOS = (0.25, 0.5, 0.75)


@pytest.fixture
def study(tiny_app: MAEApp, tmp_path) -> tuple[MAEApp, str, list[str]]:
    """A finished sweep of 3 images x 3 ratios x 2 seeds x both checkpoints."""
    images = []
    for i in range(3):
        path = tmp_path / "photos" / f"photo{i}.png"
        path.parent.mkdir(exist_ok=True)
        make_image(48, 40, seed=10 + i).save(path)
        images.append(str(path))
    run_to_end(tiny_app.sweep, None, images, *NAMES, 0.25, 0.75, 0.25, 2, 5, "loss")
    run_id = tiny_app.list_runs()[0]["run_id"].iloc[0]
    return tiny_app, run_id, [Path(path).name for path in images]  # the run names uploads by their file names


def csv_of(app: MAEApp, run_id: str) -> pd.DataFrame:
    return pd.read_csv(Path(app.run_root) / run_id / "losses.csv")


def test_the_ranking_is_the_paired_difference_per_image_largest_first(study):
    app, run_id, images = study
    table, note, picker = app.drill.ranking([run_id], "mse")
    expected = image_gaps(load_runs([run_id], app.run_root), "mse")
    assert list(table["image"]) == list(expected["image"]) and sorted(table["image"]) == sorted(images)
    assert table["mean_diff"].abs().is_monotonic_decreasing and note == ""
    assert picker["choices"] == list(expected["image"]) and picker["value"] == expected["image"].iloc[0]
    # a row click opens that row's image; a link's image is kept when the runs hold it
    assert app.drill.pick_row(table, SimpleNamespace(index=[2, 0])) == table["image"].iloc[2]
    assert app.drill.ranking([run_id], "mse", images[1])[2]["value"] == images[1]


def test_the_gallery_shows_every_ratio_with_both_checkpoints_and_the_csv_numbers(study):
    app, run_id, images = study
    assert app.drill.seed_choices([run_id], images[0]) == gr.update(choices=[5, 6], value=5)
    gallery, cells, note, targets = app.drill.gallery([run_id], images[0], 6)
    items = gallery["value"]
    assert gallery["columns"] == 4 and len(items) == len(RATIOS) * 4 and len(targets) == len(items)
    for k, ratio in enumerate(RATIOS):
        masked, top, bottom, _ = items[4 * k : 4 * k + 4]
        assert masked[1].startswith(f"random {ratio:g}: masked input")
        assert top[1].startswith(f"tiny-a, random {ratio:g}: loss ")
        assert bottom[1].startswith(f"tiny-b, random {ratio:g}: loss ")
        for path, _ in (masked, top, bottom):
            with Image.open(path) as picture:
                assert picture.format == "PNG" and picture.size == (32, 32)
        assert targets[4 * k] == targets[4 * k + 3] == (run_id, images[0], ratio, 6, "random")
    rows = csv_of(app, run_id)
    rows = rows[(rows["image"] == images[0]) & (rows["seed"] == 6)]
    assert len(cells) == len(rows) == 6
    merged = cells.merge(rows, on=["checkpoint", "mask_ratio"], suffixes=("", "_file"))
    for metric in ("loss", "mse", "psnr", "ssim", "detail", "visible_loss"):  # every metric the run computed
        # shown to 4 significant digits, as every table of the app
        assert ((merged[metric] - merged[f"{metric}_file"]).abs() <= 6e-4 * merged[f"{metric}_file"].abs()).all()
        assert merged[f"csv_{metric}"].tolist() == [significant(v) for v in merged[f"{metric}_file"]]
    assert run_id in note and "the run's own copy" in note
    assert app.drill.pick_cell(targets, SimpleNamespace(index=5)) == (run_id, images[0], 0.5, 6, "random")
    assert app.drill.pick_cell(targets, SimpleNamespace(index=11)) == (run_id, images[0], 0.75, 6, "random")


def test_the_gallery_shows_b_minus_a_per_patch_blue_where_b_is_better(study):
    """The fourth picture of each row: the per-patch squared error of b (the GAN checkpoint) minus a's on the
    row's mask, blue where b's is lower, red where higher, grey on visible patches, one scale for the gallery."""
    app, run_id, images = study
    gallery, *_ = app.drill.gallery([run_id], images[1], 5)
    replayed = replay(run_id, images[1], seed=5, models=app.model, root=app.run_root)
    for k, ratio in enumerate(RATIOS):
        path, caption = gallery["value"][4 * k + 3]
        a, b = (replayed.cell(name, ratio).reconstruction for name in NAMES)
        assert (a.mask == b.mask).all()
        removed = a.mask.astype(bool)
        better = (b.patch_error < a.patch_error) & removed
        share = better.sum() / removed.sum()
        assert caption == f"b - a per-patch MSE (tiny-b - tiny-a): b better on {share:.0%} of removed patches"
        with Image.open(path) as picture:  # the 4 x 4 grid enlarged to 224 px beside its colour bar
            assert picture.format == "PNG" and picture.size == (224 + SCALE_WIDTH, 224)
            pixels = np.asarray(picture.convert("RGB")).astype(int)
        side = 224 // a.mask.shape[0]
        for (row, col), is_removed in np.ndenumerate(removed):
            red, _, blue = pixels[row * side + side // 2, col * side + side // 2]
            if not is_removed:
                assert (red, blue) == (128, 128)  # visible: grey
            elif better[row, col]:
                assert blue > red, (ratio, row, col)
            elif b.patch_error[row, col] > a.patch_error[row, col]:
                assert red > blue, (ratio, row, col)
        assert better.any() or not removed.any()


def _breakdown_rows(folder: Path, image: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    (ratios,) = folder.glob("breakdown_loss_lt_*.csv")
    differences = folder / ratios.name.replace("breakdown_", "breakdown_differences_")
    read = [pd.read_csv(path, keep_default_na=False) for path in (ratios, differences)]
    return tuple(frame[frame["image"] == image].reset_index(drop=True) for frame in read)


def _shown(censored: str, value: float) -> str:
    return f"{censored} {significant(float(value)):g}".strip()


def test_the_breakdown_table_holds_the_reports_numbers_for_the_image(study):
    """The drill-down's breakdown of an image equals what ``python -m experiments report RUN --breakdown`` writes
    for it (the report run as a subprocess): each checkpoint's ratio, interval and seeds, and the paired b - a."""
    app, run_id, images = study
    rows = csv_of(app, run_id)
    curves = rows[rows["image"] == images[0]].groupby(["checkpoint", "mask_ratio"])["loss"].mean().unstack()
    # the tiny random models' loss falls with the ratio here: a threshold both curves cross between 0.5 and 0.75
    assert curves[0.5].min() > curves[0.75].max() and curves[0.25].min() > curves[0.5].min()
    threshold = f"loss<{(curves[0.5].min() + curves[0.75].max()) / 2:.4f}"
    done = run_cli("report", run_id, "--out", str(app.run_root), "--breakdown", threshold)
    assert done.returncode == 0, done.stderr
    folder = Path(done.stdout.strip().splitlines()[-1].removeprefix("report folder: "))
    ratios, differences = _breakdown_rows(folder, images[0])
    assert list(ratios["checkpoint"]) == list(NAMES) and (ratios["censored"] == "").all() and len(differences) == 1
    table, note = app.drill.breakdown([run_id], images[0], threshold)
    expected = [
        (name, "random", _shown(r.censored, r.breakdown_ratio), r.ci_low, r.ci_high, r.n_seeds)
        for name, r in zip(NAMES, ratios.itertuples())
    ]
    (d,) = differences.itertuples()
    expected.append(("b - a (tiny-b - tiny-a)", "random", _shown(d.censored, d.diff), d.ci_low, d.ci_high, d.n_seeds))
    got = list(table.itertuples(index=False, name=None))
    assert [g[:3] + (g[5],) for g in got] == [e[:3] + (e[5],) for e in expected]
    for g, e in zip(got, expected):  # the intervals, to the table's 4 significant digits
        assert (g[3], g[4]) == (significant(float(e[3])), significant(float(e[4])))
    assert f"Breakdown ratio (`{threshold}`) of `{images[0]}`" in note
    # the page recomputes it as the threshold changes; a bad one is one line in the note, the table emptied
    assert app.drill.show_breakdown([run_id], images[0], threshold)[0].equals(table)
    for bad, accepted in (("psnr=20", "write METRIC<VALUE or METRIC>VALUE"), ("sharp>2", "unknown metric 'sharp'")):
        with pytest.raises(gr.Error, match=accepted) as raised:
            app.drill.breakdown([run_id], images[0], bad)
        assert "\n" not in raised.value.message
        empty, line = app.drill.show_breakdown([run_id], images[0], bad)
        assert list(empty.columns) == [EMPTY_BREAKDOWN] and accepted in html.unescape(line) and "\n" not in line
    with pytest.raises(gr.Error, match="did not compute lpips"):
        app.drill.breakdown([run_id], images[0], "lpips>0.4")


def test_one_checkpoint_at_one_ratio_has_no_difference_picture_and_no_breakdown(tiny_app: MAEApp, tmp_path):
    path = tmp_path / "photo.png"
    make_image(48, 40, seed=4).save(path)
    run_to_end(tiny_app.sweep, None, [str(path)], "tiny-a", "tiny-a", 0.5, 0.5, 0.25, 2, 0, "loss")
    run_id = tiny_app.list_runs()[0]["run_id"].iloc[0]
    gallery, *_, targets = tiny_app.drill.gallery([run_id], "photo.png", 1)
    assert gallery["columns"] == 2 and len(gallery["value"]) == len(targets) == 2
    assert not any(caption.startswith("b - a") for _, caption in gallery["value"])
    table, note = tiny_app.drill.breakdown([run_id], "photo.png", "psnr<20")
    assert list(table.columns) == [
        "No breakdown: a breakdown needs at least 2 mask ratios; image 'photo.png' was measured at 0.5 only."
    ]
    assert note == ""


def test_replay_cell_gives_both_rows_of_panels_and_the_metrics(study):
    app, run_id, images = study
    *panels, table, note = app.drill.replay_cell(run_id, "photo2.png", 0.75, 5, "random")
    assert len(panels) == 10
    for index, path in enumerate(panels):
        with Image.open(path) as picture:
            assert picture.format == "PNG" and (picture.size == (32, 32) or index % 5 == 4)  # 4: the heatmap
    assert list(table["checkpoint"]) == list(NAMES) and (table["masked_patches"] == 12).all()
    assert (table["max_abs_diff"] <= 1e-5).all()
    assert f"Run **{run_id}**, image `{images[2]}` read from the run's own copy" in note


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        (("20990101-000000-aaaaaa", "photo0.png", 0.5, 5, "random"), "no run"),
        (("RUN", "nothing.png", 0.5, 5, "random"), "no such image"),
        (("RUN", "photo0.png", 0.6, 5, "random"), "not measured at mask ratio 0.6"),
        (("RUN", "photo0.png", 0.5, 9, "random"), "its seeds: 5, 6"),
        (("RUN", "photo0.png", 0.5, 5, "grid"), "not measured with the 'grid' mask"),
        (("RUN", "photo0.png", 0.5, -2, "random"), "seed"),
        (("RUN", "photo0.png", "half", 5, "random"), "mask ratio must be a number"),
    ],
)
def test_replay_explains_cells_it_cannot_replay(study, cell, message):
    app, run_id, _ = study
    cell = tuple(run_id if value == "RUN" else value for value in cell)
    with pytest.raises(gr.Error, match=message):
        app.drill.replay_cell(*cell)


def test_the_run_keeps_its_uploads_and_replays_after_they_are_gone(study, tmp_path):
    app, run_id, images = study
    kept = sorted((Path(app.run_root) / run_id / "images").iterdir())
    assert len(kept) == 3 and all(len(p.stem) == 64 for p in kept)  # content-addressed copies
    before = app.drill.gallery([run_id], images[0], 5)[1]
    # the uploads are gone: gradio's cache (and the app's list of them there) is cleaned after two hours
    shutil.rmtree(tmp_path / "photos")
    for record in Run(Path(app.run_root) / run_id).read_manifest().images:
        Path(record.path).unlink()
    after = app.drill.gallery([run_id], images[0], 5)[1]
    pd.testing.assert_frame_equal(before, after)
    for copy in kept:
        copy.unlink()
    with pytest.raises(gr.Error, match="is gone: .* does not exist and the run keeps no copy"):
        app.drill.gallery([run_id], images[0], 5)


def test_a_runs_link_round_trips_through_a_new_page(study):
    app, run_id, images = study
    query = app.drill.runs_link([run_id], "psnr", images[1])
    assert query.startswith(f"?tab=runs&runs={run_id}&metric=psnr&image=")
    params = dict(pair.split("=", 1) for pair in query[1:].split("&"))
    request = gr.Request(query_params={**params, "image": images[1], "runs": f"{run_id},20990101-000000-gone00"})
    table, picker, metric, view = app.runs_on_load(request)
    assert picker["value"] == [run_id] and metric["value"] == "psnr" and view.image == images[1]
    summary, paired, note, plot, csv_path, ranking, ranking_note, image = app.open_linked_runs(view, "psnr")
    assert "Not in this store (left out): 20990101-000000-gone00" in note
    assert image["value"] == images[1] and len(ranking) == 3 and len(summary) == 6
    assert all(value == gr.skip() for value in app.open_linked_runs(None, "loss"))


def test_the_gallery_has_a_row_per_strategy_and_ratio_of_the_run(tiny_app: MAEApp, tmp_path):
    path = tmp_path / "photo.png"
    make_image(48, 40, seed=3).save(path)
    run_to_end(tiny_app.sweep, None, [str(path)], *NAMES, 0.25, 0.5, 0.25, 1, 2, "loss", False, ["grid", "random"])
    run_id = tiny_app.list_runs()[0]["run_id"].iloc[0]
    gallery, cells, _, targets = tiny_app.drill.gallery([run_id], "photo.png", 2)
    captions = [caption for _, caption in gallery["value"]]
    order = [(mask, ratio) for mask in ("random", "grid") for ratio in (0.25, 0.5)]
    assert [c.split(":")[0] for c in captions[::4]] == [f"{mask} {ratio:g}" for mask, ratio in order]
    assert [t[2:] for t in targets[::4]] == [(ratio, 2, mask) for mask, ratio in order]
    rows = csv_of(tiny_app, run_id)
    merged = cells.merge(rows, on=["checkpoint", "mask", "mask_ratio"], suffixes=("", "_file"))
    assert len(merged) == len(rows) == 8
    assert merged["loss"].tolist() == pytest.approx(merged["loss_file"].tolist(), rel=6e-4)  # to 4 digits
    *_, table, note = tiny_app.drill.replay_cell(run_id, "photo.png", 0.5, 2, "grid")
    grid_rows = rows[(rows["mask"] == "grid") & (rows["mask_ratio"] == 0.5)].set_index("checkpoint")
    assert list(table["mask"]) == ["grid", "grid"] and list(table["checkpoint"]) == list(NAMES)
    assert list(table["csv_loss"]) == [significant(grid_rows.loc[name, "loss"]) for name in NAMES]
    with pytest.raises(gr.Error, match="not measured with the 'block' mask in this run; masks: grid, random"):
        tiny_app.drill.replay_cell(run_id, "photo.png", 0.5, 2, "block")


def test_a_spread_breakdown_says_it_has_no_interval_over_seeds():
    empty = pd.DataFrame()
    spread = breakdown_note(ImageBreakdown("cat.png", parse_threshold("spread>0.01"), empty, empty))
    assert "No interval: spread is one value per image over all its seeds." in spread and "bootstrap" not in spread
    psnr = breakdown_note(ImageBreakdown("cat.png", parse_threshold("psnr<20"), empty, empty))
    assert "Interval: 95 % percentile bootstrap over the image's seeds." in psnr
