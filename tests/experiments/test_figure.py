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


def test_one_row_of_panels_per_mask_strategy(tmp_path):
    df = study_frame(images=3, seeds=1, masks=("random", "grid"))
    figure = plot_metric(df, "psnr", tmp_path / "faceted.png")
    assert len(figure.axes) == 4  # (levels, difference) per mask, in the order the rows give the masks
    summary, paired = summarize(df, "psnr"), paired_difference(df, "psnr")
    for (levels, difference), mask in zip([figure.axes[:2], figure.axes[2:]], ("random", "grid")):
        assert levels.get_title().startswith(f"mask {mask}: mean per checkpoint")
        assert difference.get_title().startswith(f"mask {mask}: paired difference tiny-gan - tiny-pixel")
        assert [line.get_label() for line in levels.get_lines()] == ["tiny-pixel (pixel)", "tiny-gan (gan)"]
        gan = summary[(summary["mask"] == mask) & (summary["checkpoint"] == "tiny-gan")]
        assert list(levels.get_lines()[1].get_ydata()) == list(gan.sort_values("mask_ratio")["mean"])
        zero, diff = difference.get_lines()
        assert list(diff.get_ydata()) == list(paired[paired["mask"] == mask].sort_values("mask_ratio")["mean_diff"])
    assert figure.axes[0].get_shared_y_axes().joined(figure.axes[0], figure.axes[2])  # levels comparable across masks


def test_a_single_image_says_both_bands_are_over_its_seeds():
    levels, difference = plot_metric(study_frame(images=1, seeds=3), "loss").axes
    assert levels.get_title().endswith("95% CI over its seeds (one image)")
    assert difference.get_title().endswith("95% CI over its seeds (one image)")
