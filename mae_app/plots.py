"""The app's study plots, interactive: each point's numbers on hover, the 95 % bands kept, zoom and pan.

Plotly rather than gradio's native plots: ``gr.LinePlot`` draws lines from a table but no band between two columns
(the confidence interval) and no side-by-side panels, which the study needs (the levels per checkpoint, and the
paired difference whose band is what decides); plotly draws both and ``gr.Plot`` shows its figures as they are.
The command line's report keeps :mod:`experiments.figure`'s matplotlib PNG; both take the same tables.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import hex_to_rgb, qualitative
from plotly.subplots import make_subplots

from experiments.figure import metric_label, study_title

COLORS = qualitative.Plotly
BAND_OPACITY = 0.2


def study_plot(
    summary: pd.DataFrame, paired: pd.DataFrame | None, *, metric: str, run_ids: list[str], no_pair_reason: str = ""
) -> go.Figure:
    """Two panels from the tables of :func:`experiments.analysis.summarize` and ``paired_difference``: the mean
    per checkpoint vs mask ratio, and the paired difference ``b - a`` vs ratio, each with its 95 % band."""
    over = "its seeds (one image)" if (summary["ci_over"] == "seeds").all() else "images"
    pair_title = "no paired difference"
    if paired is not None and not paired.empty:
        pair_title = f"paired difference {paired['b'].iloc[0]} - {paired['a'].iloc[0]} (same image and mask)"
    figure = make_subplots(
        rows=1, cols=2, subplot_titles=(f"mean per checkpoint, 95% CI over {over}", f"{pair_title}, 95% CI")
    )
    several_masks = summary["mask"].nunique() > 1
    for index, ((checkpoint, mask), part) in enumerate(summary.groupby(["checkpoint", "mask"], sort=False)):
        loss_type = str(part["loss_type"].iloc[0])
        label = checkpoint if loss_type in ("unknown", "", checkpoint) else f"{checkpoint} ({loss_type})"
        label = f"{label}, {mask}" if several_masks else label
        _add_curve(figure, part, "mean", label, COLORS[index % len(COLORS)], column=1, hover=_LEVEL_HOVER)
    if paired is not None and not paired.empty:
        for index, (mask, part) in enumerate(paired.groupby("mask", sort=False)):
            label = f"b - a, {mask}" if paired["mask"].nunique() > 1 else "b - a"
            color = COLORS[(index + summary["checkpoint"].nunique()) % len(COLORS)]
            _add_curve(figure, part, "mean_diff", label, color, column=2, hover=_DIFFERENCE_HOVER)
    else:
        figure.add_annotation(
            text=no_pair_reason or "needs two checkpoints",
            xref="x2 domain",
            yref="y2 domain",
            x=0.5,
            y=0.5,
            showarrow=False,
        )
    figure.add_hline(y=0.0, line_width=1, line_color="black", row=1, col=2)
    figure.update_xaxes(title_text="mask ratio")
    figure.update_yaxes(title_text=metric_label(metric), row=1, col=1)
    figure.update_yaxes(title_text=f"{metric}: b - a", row=1, col=2)
    figure.update_layout(
        title={"text": study_title(metric, run_ids, summary), "font": {"size": 13}},
        hovermode="closest",
        height=460,
        margin={"t": 80, "l": 60, "r": 20, "b": 50},
        legend={"orientation": "h", "y": -0.2},
    )
    return figure


_LEVEL_HOVER = (
    "<b>%{fullData.name}</b><br>mask ratio %{x:.4g}<br>mean %{y:.4g}<br>95% CI [%{customdata[0]:.4g}, "
    "%{customdata[1]:.4g}]<br>%{customdata[2]} images x %{customdata[3]} seeds<extra></extra>"
)
_DIFFERENCE_HOVER = (
    "<b>%{fullData.name}</b><br>mask ratio %{x:.4g}<br>mean difference %{y:.4g}<br>95% CI [%{customdata[0]:.4g}, "
    "%{customdata[1]:.4g}]<br>%{customdata[2]} images<br>p (t-test, Holm) %{customdata[3]:.3g}<extra></extra>"
)


def _add_curve(
    figure: go.Figure, part: pd.DataFrame, y: str, label: str, color: str, *, column: int, hover: str
) -> None:
    """A line with markers and, where the interval exists, its band (a closed polygon under the line, in the line's
    colour): the 95 % interval of ``part``'s ``ci_low`` / ``ci_high``, the table's own (the report's) numbers."""
    part = part.sort_values("mask_ratio")
    band = part.dropna(subset=["ci_low", "ci_high"])
    if len(band):
        red, green, blue = hex_to_rgb(color)
        figure.add_trace(
            go.Scatter(
                x=[*band["mask_ratio"], *band["mask_ratio"][::-1]],
                y=[*band["ci_high"], *band["ci_low"][::-1]],
                fill="toself",
                fillcolor=f"rgba({red},{green},{blue},{BAND_OPACITY})",
                # "lines" with no width: without a mode plotly marks every corner of the polygon in its own colours
                mode="lines",
                line={"width": 0, "color": color},
                hoverinfo="skip",
                showlegend=False,
                legendgroup=label,
                name=f"{label} 95% CI",
            ),
            row=1,
            col=column,
        )
    extra = "n_seeds" if "n_seeds" in part else "p_holm"
    figure.add_trace(
        go.Scatter(
            x=part["mask_ratio"],
            y=part[y],
            mode="lines+markers",
            name=label,
            legendgroup=label,
            line={"color": color},
            customdata=part[["ci_low", "ci_high", "n_images", extra]].to_numpy(),
            hovertemplate=hover,
        ),
        row=1,
        col=column,
    )
