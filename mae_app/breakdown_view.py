"""The Runs drill-down's breakdown table: one image's breakdown ratio per checkpoint and the paired ``b - a``, the
numbers ``python -m experiments report RUN --breakdown THRESHOLD`` writes for that image.

The computation is :func:`experiments.breakdown.image_breakdown` over the report's selection of the chosen runs
(:func:`experiments.selection.select`, balanced images) and the report's default pair; this module only reads the
threshold box and lays the rows out.
"""

from __future__ import annotations

import gradio as gr
import pandas as pd

from experiments.analysis import pair_checkpoints
from experiments.breakdown import ImageBreakdown, TooFewRatios, image_breakdown, parse_threshold
from experiments.selection import select
from mae_core.options import SEED_METRICS

from . import formatting, inputs

DEFAULT_THRESHOLD = "psnr<20"
TABLE_COLUMNS = ("checkpoint", "mask", "breakdown_ratio", "ci_low", "ci_high", "n_seeds")


def breakdown_of(frame: pd.DataFrame, image: str, threshold: str | None) -> tuple[pd.DataFrame, str]:
    """The breakdown table and its note for ``image`` (its name in the runs) over the rows ``frame`` of the chosen
    runs. An image measured at a single ratio gets a one-line table saying a breakdown needs two. ``gr.Error`` (one
    line) for a threshold that cannot be read (naming what is accepted), a metric the runs did not compute, or an
    image the report leaves out (and why)."""
    try:
        parsed = parse_threshold(threshold or "")
    except ValueError as err:
        raise gr.Error(str(err)) from None  # one line: what was wrong, what is accepted
    try:
        selection = select(frame)
    except ValueError as err:
        raise inputs.user_error(err) from None
    cells = selection.frame
    if image not in set(frame["image"]):
        raise gr.Error(f"The chosen runs hold no image {image!r}.")
    if image not in set(cells["image"]):  # left out as the report leaves it out (e.g. cells missing)
        reasons = selection.left_out.loc[selection.left_out["image"] == image, "reason"]
        why = f": {reasons.iloc[0]}" if len(reasons) else ""
        raise gr.Error(f"Image {image!r} is left out of the analysis{why}.")
    try:
        result = image_breakdown(cells, image, parsed, _pair(cells))
    except TooFewRatios as err:
        return formatting.empty_table(f"No breakdown: {err}."), ""
    except ValueError as err:  # e.g. a metric the runs did not compute
        raise inputs.user_error(err) from None
    return breakdown_table(result), breakdown_note(result)


def _pair(cells: pd.DataFrame) -> tuple[str, str] | None:
    """The report's pair (a, b) of the selected cells: the pixel and GAN checkpoints, else the first two; None for
    one checkpoint or three that the loss types do not decide."""
    if cells["checkpoint"].nunique() < 2:
        return None
    try:
        return pair_checkpoints(cells)
    except ValueError:
        return None


def breakdown_table(result: ImageBreakdown) -> pd.DataFrame:
    """Per mask strategy, a row per checkpoint (its breakdown ratio, censored ones as ``> 0.9`` / ``<= 0.25``), then
    the paired ``b - a`` row (a bound as ``>= 0.05`` / ``<= -0.1``, ``?`` when undetermined); the bootstrap interval
    and the number of seeds beside each, rounded as every table of the app."""
    rows = []
    for mask in dict.fromkeys(result.ratios["mask"]):
        for row in result.ratios[result.ratios["mask"] == mask].itertuples():
            rows.append(_row(row.checkpoint, mask, row.censored, row.breakdown_ratio, row))
        for row in result.differences[result.differences["mask"] == mask].itertuples():
            rows.append(_row(f"b - a ({row.b} - {row.a})", mask, row.censored, row.diff, row))
    return formatting.rounded(pd.DataFrame(rows, columns=list(TABLE_COLUMNS)))


def _row(label: str, mask: str, censored: str, value: float, numbers) -> dict:
    shown = f"{censored} {formatting.significant(float(value)):g}".strip()
    return {
        "checkpoint": label,
        "mask": mask,
        "breakdown_ratio": shown,
        "ci_low": float(numbers.ci_low),
        "ci_high": float(numbers.ci_high),
        "n_seeds": int(numbers.n_seeds),
    }


def breakdown_note(result: ImageBreakdown) -> str:
    threshold = result.threshold
    note = (
        f"Breakdown ratio (`{threshold.text}`) of `{result.image}`: the smallest mask ratio where {threshold.metric} "
        f"(averaged over the image's seeds) crosses {threshold.value:g}, interpolated between the measured ratios; "
        "`>` never crossed up to the last ratio, `<=` crossed already at the first. "
        + (
            f"No interval: {threshold.metric} is one value per image over all its seeds."
            if threshold.metric in SEED_METRICS
            else "Interval: 95 % percentile bootstrap over the image's seeds."
        )
    )
    if len(result.differences):
        note += (
            " `b - a`: the paired difference, the seeds resampled together for both checkpoints; with a censored side "
            "it is a bound (`>=` at least, `<=` at most, `?` either way)."
        )
    return note + f" The same numbers as the report's `--breakdown {threshold.text}` for this image."
