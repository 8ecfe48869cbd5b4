"""The study's figure: the metric per checkpoint vs mask ratio, and the paired difference ``b - a`` vs ratio;
one row of these two panels per mask strategy.

Both panels draw 95 % intervals over images (per-image means over seeds first, see :mod:`experiments.analysis`):
the left panel's bands show how precisely each checkpoint's mean is known, the right panel's band how precisely the
difference is known. Overlapping left bands do not mean "no difference": images vary more than the checkpoints do
on the same image, which the paired panel removes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from mae_core.options import METRIC_INFO


def metric_label(metric: str) -> str:
    """The axis label of a metric (``mae_core.options.METRIC_INFO``), else its name."""
    info = METRIC_INFO.get(metric)
    return info.label if info else metric


def count_text(values: pd.Series) -> str:
    """``12`` when every point has the same count, ``10-12`` otherwise."""
    low, high = int(values.min()), int(values.max())
    return str(low) if low == high else f"{low}-{high}"


def runs_text(run_ids: Sequence[str], limit: int = 3) -> str:
    run_ids = list(dict.fromkeys(run_ids))
    shown = ", ".join(run_ids[:limit])
    return shown if len(run_ids) <= limit else f"{shown} and {len(run_ids) - limit} more"


def study_title(metric: str, run_ids: Sequence[str], summary: pd.DataFrame) -> str:
    """The runs and ``n_images x n_seeds`` per point."""
    size = f"{count_text(summary['n_images'])} images x {count_text(summary['n_seeds'])} seeds per point"
    return f"{metric} vs mask ratio - runs {runs_text(run_ids)} - {size}"


def plot_study(
    summary: pd.DataFrame,
    paired: pd.DataFrame | None,
    *,
    metric: str,
    title: str,
    path: str | os.PathLike | None = None,
    no_pair_reason: str = "",
) -> Figure:
    """Two panels from the tables of :func:`summarize` and :func:`paired_difference`, one row of them per mask
    strategy (faceted: each row's title names its mask; columns share their y axis); saved as PNG when ``path``."""
    masks = list(dict.fromkeys(summary["mask"])) if "mask" in summary else [None]
    figure = Figure(figsize=(12 if len(masks) == 1 else 13, 1.0 + 3.8 * len(masks)), dpi=110)
    FigureCanvasAgg(figure)  # Agg, no pyplot: safe in servers and threads
    axes = figure.subplots(len(masks), 2, sharex=True, sharey="col", squeeze=False)
    for (left, right), mask in zip(axes, masks):
        prefix = f"mask {mask}: " if len(masks) > 1 else ""
        _draw_levels(left, _of_mask(summary, mask), metric, prefix)
        _draw_difference(right, _of_mask(paired, mask), metric, no_pair_reason, prefix)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    if path is not None:
        figure.savefig(path, format="png")
    return figure


def _of_mask(table: pd.DataFrame | None, mask: str | None) -> pd.DataFrame | None:
    """The rows of one mask strategy (all rows when the table has no ``mask`` column)."""
    if table is None or mask is None or "mask" not in table:
        return table
    return table[table["mask"] == mask]


def _draw_levels(ax, summary: pd.DataFrame, metric: str, prefix: str) -> None:
    for checkpoint, part in summary.groupby("checkpoint", sort=False):
        part = part.sort_values("mask_ratio")
        loss_type = str(part["loss_type"].iloc[0])
        label = checkpoint if loss_type in ("unknown", "", checkpoint) else f"{checkpoint} ({loss_type})"
        (line,) = ax.plot(part["mask_ratio"], part["mean"], marker="o", label=label)
        band = part.dropna(subset=["ci_low", "ci_high"])
        if len(band):
            ax.fill_between(band["mask_ratio"], band["ci_low"], band["ci_high"], color=line.get_color(), alpha=0.2)
    over = "its seeds (one image)" if (summary["ci_over"] == "seeds").all() else "images"
    ax.set_title(f"{prefix}mean per checkpoint, 95% CI over {over}", fontsize=9)
    ax.set_xlabel("mask ratio")
    ax.set_ylabel(metric_label(metric))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)


def _draw_difference(ax, paired: pd.DataFrame | None, metric: str, reason: str, prefix: str) -> None:
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_xlabel("mask ratio")
    ax.grid(True, alpha=0.3)
    if paired is None or paired.empty:
        ax.set_title(f"{prefix}no paired difference", fontsize=9)
        ax.text(
            0.5,
            0.5,
            reason or "needs two checkpoints",
            ha="center",
            va="center",
            wrap=True,
            transform=ax.transAxes,
            fontsize=8,
        )
        return
    a, b = paired["a"].iloc[0], paired["b"].iloc[0]
    part = paired.sort_values("mask_ratio")
    (line,) = ax.plot(part["mask_ratio"], part["mean_diff"], marker="o")
    band = part.dropna(subset=["ci_low", "ci_high"])
    if len(band):
        ax.fill_between(band["mask_ratio"], band["ci_low"], band["ci_high"], color=line.get_color(), alpha=0.2)
    over = "its seeds (one image)" if (paired["n_images"] == 1).all() else "images"
    wrap = "\n" if prefix else " "  # a faceted row's title is longer by its mask's name
    ax.set_title(f"{prefix}paired difference {b} - {a}{wrap}(same image and mask), 95% CI over {over}", fontsize=9)
    ax.set_ylabel(f"{metric}: {b} - {a}")


def plot_metric(
    df: pd.DataFrame,
    metric: str = "loss",
    path: str | os.PathLike | None = None,
    *,
    a: str | None = None,
    b: str | None = None,
) -> Figure:
    """The two-panel figure straight from loaded rows (unique cells, as given: no balancing)."""
    from experiments.analysis import paired_difference, summarize

    summary = summarize(df, metric)
    paired, reason = None, ""
    if summary["checkpoint"].nunique() >= 2:
        try:
            paired = paired_difference(df, metric, a, b)
        except ValueError as err:
            reason = str(err)
    run_ids = list(dict.fromkeys(df["run_id"])) if "run_id" in df else []
    title = study_title(metric, run_ids, summary)
    return plot_study(summary, paired, metric=metric, title=title, path=path, no_pair_reason=reason)
