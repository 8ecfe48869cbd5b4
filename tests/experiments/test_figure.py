"""The two-panel study figure: levels per checkpoint with image-clustered bands, and the paired difference."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from experiments.analysis import paired_difference, summarize
from experiments.figure import plot_metric, study_title
from tests.experiments.helpers import study_frame


def test_two_panels_levels_and_paired_difference(tmp_path):
    df = pd.concat([study_frame(images=6, seeds=3), study_frame(images=6, seeds=3, run_id="run-b")])
    path = tmp_path / "plot.png"
    figure = plot_metric(df, "loss", path)
    assert isinstance(figure, Figure) and len(figure.axes) == 2
    levels, difference = figure.axes
    assert [line.get_label() for line in levels.get_lines()] == ["tiny-pixel (pixel)", "tiny-gan (gan)"]
    assert len(levels.collections) == 2  # one band per checkpoint
    assert list(levels.get_lines()[0].get_xdata()) == [0.5, 0.75, 0.9]
    summary = summarize(df, "loss")
    pixel = summary[summary["checkpoint"] == "tiny-pixel"]
    band = levels.collections[0].get_paths()[0].vertices[:, 1]
    assert band.min() == pixel["ci_low"].min() and band.max() == pixel["ci_high"].max()  # image-clustered
    zero, diff = difference.get_lines()
    assert list(zero.get_ydata()) == [0, 0]
    paired = paired_difference(df, "loss")
    assert list(diff.get_ydata()) == list(paired["mean_diff"])
    assert len(difference.collections) == 1
    assert "tiny-gan - tiny-pixel" in difference.get_title()
    title = figure.texts[0].get_text()
    assert "runs run-a, run-b" in title and "6 images x 3 seeds per point" in title
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_single_checkpoint_says_why_there_is_no_difference():
    df = study_frame(images=2, seeds=1)
    figure = plot_metric(df[df["checkpoint"] == "tiny-gan"], "mse")
    assert figure.axes[1].get_title() == "no paired difference"
    assert [line.get_label() for line in figure.axes[0].get_lines()] == ["tiny-gan (gan)"]


def test_title_shows_ranges_when_points_differ():
    df = study_frame(images=4, seeds=2)
    df = df[~((df["mask_ratio"] == 0.9) & (df["image"] == "im0.png"))]
    assert study_title("loss", ["r"], summarize(df, "loss")).endswith("3-4 images x 2 seeds per point")


def test_one_line_per_checkpoint_and_mask():
    df = study_frame(images=3, seeds=1, masks=("random", "grid"))
    levels, difference = plot_metric(df, "psnr").axes
    assert len(levels.get_lines()) == 4 and "tiny-gan (gan), grid" in [x.get_label() for x in levels.get_lines()]
    assert len(difference.get_lines()) == 3  # zero line + one per mask


def test_a_single_image_says_both_bands_are_over_its_seeds():
    levels, difference = plot_metric(study_frame(images=1, seeds=3), "loss").axes
    assert levels.get_title().endswith("95% CI over its seeds (one image)")
    assert difference.get_title().endswith("95% CI over its seeds (one image)")
