"""One study pipeline: select the cells to compare, summarise them per checkpoint x mask x ratio, and pair two
checkpoints. The CLI report and the app's Sweep and Runs tabs call it, so that all three show
the same numbers for the same rows."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from experiments.analysis import check_metric, paired_difference, summarize
from experiments.selection import Selection, select

SINGLE_CHECKPOINT = "the runs hold a single checkpoint"


@dataclass(frozen=True)
class Study:
    """The analysis of some rows for one metric."""

    metric: str
    selection: Selection  # the cells used (``selection.frame``) and what was left out, and why
    summary: pd.DataFrame  # experiments.analysis.SUMMARY_COLUMNS, one row per checkpoint x mask x ratio
    paired: pd.DataFrame | None  # experiments.analysis.PAIRED_COLUMNS; None when there is no pair to compare
    no_pair: str = ""  # why ``paired`` is None ("" when it is not)

    @property
    def frame(self) -> pd.DataFrame:
        return self.selection.frame


def analyse(
    frame: pd.DataFrame,
    metric: str = "loss",
    a: str | None = None,
    b: str | None = None,
    *,
    allow_unbalanced: bool = False,
    planned: pd.DataFrame | None = None,
) -> Study:
    """Select the cells of ``frame`` (:func:`experiments.selection.select`, with ``allow_unbalanced`` and
    ``planned``), summarise them, and pair ``b`` against ``a`` (default: the GAN-loss checkpoint against the pixel
    one). ``ValueError`` for an unknown metric, no rows, or a pair asked for by name that cannot be made; a default
    pair that cannot be made leaves ``paired`` None with the reason in ``no_pair``."""
    check_metric(metric)
    selection = select(frame, allow_unbalanced=allow_unbalanced, planned=planned)
    summary = summarize(selection.frame, metric)
    paired, no_pair = _paired(selection.frame, metric, a, b)
    return Study(metric=metric, selection=selection, summary=summary, paired=paired, no_pair=no_pair)


def _paired(frame: pd.DataFrame, metric: str, a: str | None, b: str | None) -> tuple[pd.DataFrame | None, str]:
    if frame["checkpoint"].nunique() < 2:
        return None, SINGLE_CHECKPOINT
    try:
        return paired_difference(frame, metric, a, b), ""
    except ValueError as err:
        if a is not None or b is not None:
            raise
        return None, str(err)
