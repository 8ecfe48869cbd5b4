"""What the Sweep and Runs tabs both show of some rows: the two-panel plot, the paired difference, the CSV offered."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from experiments.store import Run
from experiments.study import analyse

from .. import formatting, inputs, plots, space
from ..served_files import export_csv


def visitor_csv(frame: pd.DataFrame, run: Run) -> Path:
    """The CSV a page offers for a run's rows: on a Space, where the run store is not served, a copy of them;
    elsewhere the run's own losses file."""
    return export_csv(frame, [run.run_id]) if space.on_space() else run.losses_path


def study_outputs(frame: pd.DataFrame, metric: str, csv_path: Path, note: str, metric_hint: str = "") -> tuple:
    """A sweep's rows as the Sweep tab shows them: the plot, the rounded summary, the CSV path and ``note``."""
    try:
        # every row the sweep measured, a cancelled sweep's partly measured images included
        study = analyse(frame, metric, allow_unbalanced=True)
    except ValueError as err:  # the metric chosen was not computed (lpips without its weights)
        raise inputs.user_error(ValueError(f"{err}. {metric_hint}".strip())) from None
    plot = study_plot(study.frame, study.summary, metric, study.paired, study.no_pair)
    return plot, formatting.rounded(study.summary), str(csv_path), note


def study_plot(
    frame: pd.DataFrame, summary: pd.DataFrame, metric: str, paired: pd.DataFrame | None, reason: str = ""
) -> go.Figure:
    """The interactive two-panel plot of some rows (see :mod:`mae_app.plots`)."""
    run_ids = list(dict.fromkeys(frame["run_id"])) if "run_id" in frame else []
    return plots.study_plot(summary, paired, metric=metric, run_ids=run_ids, no_pair_reason=reason)
