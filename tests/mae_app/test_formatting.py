"""What the app shows about metrics: the legend under the Sweep and Runs tables."""

from __future__ import annotations

import gradio as gr
import numpy as np
import pandas as pd

from mae_app import build_demo
from mae_app.formatting import metric_legend, rounded, significant
from mae_core.options import METRIC_NAMES, RECONSTRUCTION_METRICS


def test_legend_has_one_line_per_metric_with_its_direction():
    lines = metric_legend().splitlines()
    assert [line.split("**")[1] for line in lines] == list(METRIC_NAMES)
    assert "(higher is better)" in lines[METRIC_NAMES.index("ssim")]
    assert "(lower is better)" in lines[METRIC_NAMES.index("lpips")]
    assert "(closer to 1 is better)" in lines[METRIC_NAMES.index("detail")]


def test_compare_sweep_and_runs_tabs_show_the_legend_and_offer_every_metric(tiny_app):
    demo = build_demo(tiny_app)
    blocks = list(demo.blocks.values())
    legends = {b.elem_id: b.value for b in blocks if isinstance(b, gr.Markdown) and "metric-legend" in str(b.elem_id)}
    assert legends["sweep-metric-legend"] == legends["runs-metric-legend"] == metric_legend()
    # Compare's table holds what one reconstruction carries: no spread (that is over a cell's seeds)
    compare = legends["compare-metric-legend"]
    assert [line.split("**")[1] for line in compare.splitlines()] == list(RECONSTRUCTION_METRICS)
    assert "spread" in metric_legend() and "spread" not in compare
    metric_menus = [b for b in blocks if isinstance(b, gr.Dropdown) and b.label == "Metric"]
    assert len(metric_menus) == 2
    for menu in metric_menus:
        assert [choice[0] for choice in menu.choices] == list(METRIC_NAMES)


def test_tables_round_every_float_to_four_significant_digits():
    frame = pd.DataFrame({"loss": [0.123456789, 12345.678, np.nan], "seed": [1, 2, 3], "image": ["a", "b", "c"]})
    frame["csv"] = [None, 1e-9, 2.0]
    shown = rounded(frame)
    assert shown["loss"].tolist()[:2] == [0.1235, 12350.0] and np.isnan(shown["loss"].iloc[2])
    assert shown["seed"].tolist() == [1, 2, 3] and shown["image"].tolist() == ["a", "b", "c"]
    assert shown["csv"].tolist()[1:] == [1e-9, 2.0]
    assert significant(2 / 3) == 0.6667 and significant(float("inf")) == float("inf")
