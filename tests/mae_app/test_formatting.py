"""What the app shows about metrics: the legend under the Sweep and Runs tables."""

from __future__ import annotations

import gradio as gr

from mae_app import build_demo
from mae_app.formatting import metric_legend
from mae_core.evaluation.metrics import METRIC_NAMES


def test_legend_has_one_line_per_metric_with_its_direction():
    lines = metric_legend().splitlines()
    assert [line.split("**")[1] for line in lines] == list(METRIC_NAMES)
    assert "(higher is better)" in lines[METRIC_NAMES.index("ssim")]
    assert "(lower is better)" in lines[METRIC_NAMES.index("lpips")]
    assert "(closer to 1 is better)" in lines[METRIC_NAMES.index("detail")]


def test_sweep_and_runs_tabs_show_the_legend_and_offer_every_metric(tiny_app):
    demo = build_demo(tiny_app)
    blocks = list(demo.blocks.values())
    legends = [
        b for b in blocks if isinstance(b, gr.Markdown) and b.elem_id in ("sweep-metric-legend", "runs-metric-legend")
    ]
    assert len(legends) == 2 and all(b.value == metric_legend() for b in legends)
    metric_menus = [b for b in blocks if isinstance(b, gr.Dropdown) and b.label == "Metric"]
    assert len(metric_menus) == 2
    for menu in metric_menus:
        assert [choice[0] for choice in menu.choices] == list(METRIC_NAMES)
