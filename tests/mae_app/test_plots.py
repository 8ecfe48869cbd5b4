"""The interactive study plot: one line per checkpoint with its band, the paired difference, numbers on hover."""

from __future__ import annotations

import gradio as gr
import pandas as pd
import pytest
from plotly.colors import hex_to_rgb

from experiments.analysis import paired_difference, summarize
from experiments.report import write_report
from mae_app.plots import study_plot
from tests.experiments.helpers import study_frame


def traces(figure, *, filled: bool) -> list:
    return [t for t in figure.data if (t.fill == "toself") == filled]


def test_levels_and_difference_with_their_bands_and_hover_numbers():
    df = study_frame(images=4, seeds=2, ratios=(0.5, 0.75, 0.9))
    summary, paired = summarize(df, "loss"), paired_difference(df, "loss")
    figure = study_plot(summary, paired, metric="loss", run_ids=["run-a"])
    lines, bands = traces(figure, filled=False), traces(figure, filled=True)
    assert [t.name for t in lines] == ["tiny-pixel (pixel)", "tiny-gan (gan)", "b - a"]
    assert len(bands) == 3 and all(b.hoverinfo == "skip" for b in bands)
    pixel = summary[summary["checkpoint"] == "tiny-pixel"].sort_values("mask_ratio")
    assert list(lines[0].y) == pytest.approx(list(pixel["mean"]))
    # the band runs along ci_high and back along ci_low
    assert list(bands[0].y) == pytest.approx([*pixel["ci_high"], *pixel["ci_low"][::-1]])
    assert list(lines[0].customdata[:, 0]) == pytest.approx(list(pixel["ci_low"]))
    assert "95% CI [%{customdata[0]:.4g}" in lines[0].hovertemplate and "mean %{y:.4g}" in lines[0].hovertemplate
    assert "p (t-test, Holm)" in lines[2].hovertemplate
    assert lines[2].xaxis == "x2" and list(lines[2].y) == pytest.approx(list(paired["mean_diff"]))
    assert "run-a" in figure.layout.title.text and "4 images x 2 seeds per point" in figure.layout.title.text
    assert gr.Plot().postprocess(figure).type == "plotly"  # what the app's gr.Plot sends to the page


def test_one_checkpoint_gets_a_note_instead_of_a_difference():
    df = study_frame(images=2, seeds=1)
    df = df[df["checkpoint"] == "tiny-pixel"]
    figure = study_plot(summarize(df, "mse"), None, metric="mse", run_ids=["r"], no_pair_reason="only one model")
    assert [t.name for t in traces(figure, filled=False)] == ["tiny-pixel (pixel)"]
    assert any(a.text == "only one model" for a in figure.layout.annotations)


def test_bands_take_their_lines_colour_without_markers_and_the_reports_interval(tmp_path):
    """Two seeds per image, three images: each band is its line's colour, drawn without corner markers, and its
    limits are the interval the report writes (a loss's band may reach below zero: the t interval on 2 df)."""
    df = study_frame(images=3, seeds=2, ratios=(0.5, 0.75))
    report = write_report(df, tmp_path, "loss")
    figure = study_plot(report.summary, report.paired, metric="loss", run_ids=["run-a"])
    lines, bands = traces(figure, filled=False), traces(figure, filled=True)
    assert len(bands) == len(lines) == 3
    for line, band in zip(lines, bands):
        assert band.mode == "lines" and band.line.width == 0  # no markers at the corners
        assert band.line.color == line.line.color
        red, green, blue = hex_to_rgb(line.line.color)
        assert band.fillcolor.startswith(f"rgba({red},{green},{blue},")
    written = pd.read_csv(next(tmp_path.glob("summary*.csv")))
    for checkpoint, band in zip(("tiny-pixel", "tiny-gan"), bands):
        part = written[written["checkpoint"] == checkpoint].sort_values("mask_ratio")
        assert list(band.y) == pytest.approx([*part["ci_high"], *part["ci_low"][::-1]], rel=1e-9)
    paired = pd.read_csv(next(tmp_path.glob("paired*.csv"))).sort_values("mask_ratio")
    assert list(bands[2].y) == pytest.approx([*paired["ci_high"], *paired["ci_low"][::-1]], rel=1e-9)
