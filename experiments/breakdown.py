"""Breakdown ratio: for each image and checkpoint, the smallest mask ratio at which a metric crosses a threshold
(``psnr<20``: PSNR falls below 20 dB; ``lpips>0.4``: LPIPS rises above 0.4).

Per image, checkpoint and mask strategy, the metric is averaged over the image's seeds at each measured ratio (a
curve over ratios). The breakdown ratio is where that curve FIRST crosses the threshold, interpolated linearly
between the last ratio that did not cross and the first that did. Censored values: ``>`` when the curve never
crosses (the value is then the last ratio, a lower bound), ``<=`` when it already crosses at the first ratio (the
value is the first ratio, an upper bound). The 95 % interval is a percentile bootstrap over seeds
(``scipy.stats.bootstrap``, :data:`N_RESAMPLES` resamples, seeded): the image's seeds are resampled with
replacement, each resample's curve is averaged and its breakdown ratio taken (censored ones at their bound).

Between checkpoints, per image the difference ``b - a`` of the two breakdown ratios (censored values at their
bound: with ``>`` on one side the difference is itself a bound), and over images the Wilcoxon signed-rank test of
those differences (``scipy.stats.wilcoxon``, SciPy's defaults: zero differences dropped).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy import stats

from experiments.analysis import CONFIDENCE, pair_checkpoints, study_cells
from mae_core.options import METRIC_NAMES

N_RESAMPLES = 999
BOOTSTRAP_SEED = 0  # the bootstrap's randomness is an argument, fixed so a report is reproducible
ABOVE, BELOW = ">", "<="  # censoring marks: never crossed (value = last ratio), crossed at the first ratio

BREAKDOWN_COLUMNS = (
    "image",
    "image_sha256",
    "checkpoint",
    "mask",
    "threshold",
    "n_seeds",
    "breakdown_ratio",
    "censored",
    "ci_low",
    "ci_high",
)
DISTRIBUTION_COLUMNS = (
    "checkpoint",
    "mask",
    "threshold",
    "n_images",
    "n_crossed",
    "n_above",
    "n_below",
    "median",
    "q25",
    "q75",
    "min",
    "max",
)
BREAKDOWN_PAIRED_COLUMNS = (
    "mask",
    "threshold",
    "a",
    "b",
    "n_images",
    "n_censored",
    "median_diff",
    "mean_diff",
    "n_b_later",
    "n_b_earlier",
    "p_wilcoxon",
)


@dataclass(frozen=True)
class Threshold:
    """A user's ``METRIC<VALUE`` or ``METRIC>VALUE``: the metric has crossed when ``value OP threshold``."""

    metric: str
    op: str  # "<" or ">"
    value: float

    @property
    def text(self) -> str:
        return f"{self.metric}{self.op}{self.value:g}"

    @property
    def slug(self) -> str:
        """A file-name form: ``psnr_lt_20``, ``lpips_gt_0.4``."""
        return f"{self.metric}_{'lt' if self.op == '<' else 'gt'}_{self.value:g}"

    def crossed(self, values: np.ndarray) -> np.ndarray:
        return values < self.value if self.op == "<" else values > self.value


_THRESHOLD = re.compile(r"^\s*([a-z_]+)\s*([<>])\s*([-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?)\s*$")


def parse_threshold(text: str) -> Threshold:
    """``"psnr<20"`` -> Threshold("psnr", "<", 20.0); ``ValueError`` saying what is accepted otherwise."""
    match = _THRESHOLD.match(text or "")
    accepted = f"write METRIC<VALUE or METRIC>VALUE, e.g. psnr<20 or lpips>0.4; metrics: {', '.join(METRIC_NAMES)}"
    if not match:
        raise ValueError(f"cannot read the breakdown threshold {text!r}; {accepted}")
    metric, op, value = match.group(1), match.group(2), float(match.group(3))
    if metric not in METRIC_NAMES:
        raise ValueError(f"unknown metric {metric!r} in the breakdown threshold {text!r}; {accepted}")
    return Threshold(metric, op, value)


def breakdown_of_curves(curves: np.ndarray, ratios: np.ndarray, threshold: Threshold) -> tuple[np.ndarray, np.ndarray]:
    """Curves [B, R] (a metric at ascending ``ratios`` [R]) -> (breakdown ratio [B], censoring [B] of "", ">" or
    "<="): the first crossing, linearly interpolated from the ratio before it."""
    crossed = threshold.crossed(curves)
    first = crossed.argmax(axis=1)  # [B], 0 where nothing crossed too
    ever = crossed.any(axis=1)
    rows = np.arange(curves.shape[0])
    before = np.maximum(first - 1, 0)
    v0, v1 = curves[rows, before], curves[rows, first]
    r0, r1 = ratios[before], ratios[first]
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.where(v1 != v0, (threshold.value - v0) / (v1 - v0), 1.0)
    value = np.where(first == 0, ratios[0], r0 + np.clip(fraction, 0.0, 1.0) * (r1 - r0))
    value = np.where(ever, value, ratios[-1])
    censored = np.where(~ever, ABOVE, np.where(first == 0, BELOW, ""))
    return value, censored


def breakdown_ratios(df: pd.DataFrame, threshold: Threshold) -> pd.DataFrame:
    """One row per image x checkpoint x mask (``BREAKDOWN_COLUMNS``) over the unique cells of ``df`` that measured
    the threshold's metric. An image needs the same seeds at every ratio of its curve (a balanced selection)."""
    frame = study_cells(df, threshold.metric)
    rows = []
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    for (_, checkpoint, mask), group in frame.groupby(["image_key", "checkpoint", "mask"], sort=False):
        table = group.pivot_table(index="seed", columns="mask_ratio", values=threshold.metric, aggfunc="mean")
        table = table.dropna(axis=0)  # seeds measured at every ratio of this image
        ratios = table.columns.to_numpy(dtype=float)
        values = table.to_numpy(dtype=float)  # [S, R]
        value, censored = breakdown_of_curves(values.mean(axis=0, keepdims=True), ratios, threshold)
        low, high = _interval(values, ratios, threshold, rng)
        rows.append(
            {
                "image": group["image"].iloc[0],
                "image_sha256": str(group["image_sha256"].iloc[0]),
                "checkpoint": checkpoint,
                "mask": mask,
                "threshold": threshold.text,
                "n_seeds": len(table),
                "breakdown_ratio": float(value[0]),
                "censored": str(censored[0]),
                "ci_low": low,
                "ci_high": high,
            }
        )
    return pd.DataFrame(rows, columns=list(BREAKDOWN_COLUMNS))


def _interval(
    values: np.ndarray, ratios: np.ndarray, threshold: Threshold, rng: np.random.Generator
) -> tuple[float, float]:
    """The percentile bootstrap interval of the breakdown ratio over the seeds (rows of ``values`` [S, R])."""
    if values.shape[0] < 2:
        return math.nan, math.nan

    def statistic(index: np.ndarray, axis: int = -1) -> np.ndarray:
        index = np.asarray(index, dtype=int)  # [..., S] resampled seed rows
        flat = index.reshape(-1, index.shape[-1])
        curves = values[flat].mean(axis=1)  # [B, R]
        return breakdown_of_curves(curves, ratios, threshold)[0].reshape(index.shape[:-1])

    result = stats.bootstrap(
        (np.arange(values.shape[0]),),
        statistic,
        vectorized=True,
        n_resamples=N_RESAMPLES,
        confidence_level=CONFIDENCE,
        method="percentile",
        rng=rng,
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def breakdown_distribution(table: pd.DataFrame) -> pd.DataFrame:
    """Per checkpoint x mask (``DISTRIBUTION_COLUMNS``): how the images' breakdown ratios spread; censored values
    enter the quantiles at their bound (so a median above the last ratio reads as that ratio)."""
    rows = []
    for (checkpoint, mask), group in table.groupby(["checkpoint", "mask"], sort=False):
        values = group["breakdown_ratio"].to_numpy(dtype=float)
        rows.append(
            {
                "checkpoint": checkpoint,
                "mask": mask,
                "threshold": group["threshold"].iloc[0],
                "n_images": len(group),
                "n_crossed": int((group["censored"] == "").sum()),
                "n_above": int((group["censored"] == ABOVE).sum()),
                "n_below": int((group["censored"] == BELOW).sum()),
                "median": float(np.median(values)),
                "q25": float(np.quantile(values, 0.25)),
                "q75": float(np.quantile(values, 0.75)),
                "min": float(values.min()),
                "max": float(values.max()),
            }
        )
    return pd.DataFrame(rows, columns=list(DISTRIBUTION_COLUMNS))


def breakdown_paired(table: pd.DataFrame, a: str | None = None, b: str | None = None) -> pd.DataFrame:
    """Per mask (``BREAKDOWN_PAIRED_COLUMNS``): b's breakdown ratio minus a's, per image; their median and mean and
    the Wilcoxon signed-rank p over images. ``n_censored``: images where either side is censored (their difference
    is a bound)."""
    a, b = pair_checkpoints(table, a, b)
    side = {name: table[table["checkpoint"] == name] for name in (a, b)}
    both = side[a].merge(side[b], on=["image", "image_sha256", "mask"], suffixes=("_a", "_b"))
    rows = []
    for mask, group in both.groupby("mask", sort=False):
        diff = (group["breakdown_ratio_b"] - group["breakdown_ratio_a"]).to_numpy(dtype=float)
        censored = (group["censored_a"] != "") | (group["censored_b"] != "")
        rows.append(
            {
                "mask": mask,
                "threshold": group["threshold_a"].iloc[0],
                "a": a,
                "b": b,
                "n_images": len(group),
                "n_censored": int(censored.sum()),
                "median_diff": float(np.median(diff)),
                "mean_diff": float(diff.mean()),
                "n_b_later": int((diff > 0).sum()),
                "n_b_earlier": int((diff < 0).sum()),
                "p_wilcoxon": _wilcoxon(diff),
            }
        )
    return pd.DataFrame(rows, columns=list(BREAKDOWN_PAIRED_COLUMNS))


def _wilcoxon(diff: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p of the differences; NaN when undefined (no non-zero difference)."""
    if not np.any(diff != 0):
        return math.nan
    try:
        return float(stats.wilcoxon(diff).pvalue)
    except ValueError:
        return math.nan


def plot_breakdown(table: pd.DataFrame, threshold: Threshold, path) -> None:
    """A histogram per mask strategy of the images' breakdown ratios, one colour per checkpoint; the images that
    never crossed stand in a hatched bar right of the last ratio (labelled ``> last``)."""
    masks = list(dict.fromkeys(table["mask"]))
    figure = Figure(figsize=(7, 0.8 + 2.8 * len(masks)), dpi=110)
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(masks), 1, squeeze=False)[:, 0]
    for axis, mask in zip(axes, masks):
        part = table[table["mask"] == mask]
        low, high = float(part["breakdown_ratio"].min()), float(part["breakdown_ratio"].max())
        width = max((high - low) / 12, 0.01)
        bins = np.arange(low, high + width, width) if high > low else np.array([low - width / 2, low + width / 2])
        names = list(dict.fromkeys(part["checkpoint"]))
        crossed = [part[(part["checkpoint"] == n) & (part["censored"] != ABOVE)]["breakdown_ratio"] for n in names]
        axis.hist(crossed, bins=bins, label=names, alpha=0.8)
        above = [int(((part["checkpoint"] == n) & (part["censored"] == ABOVE)).sum()) for n in names]
        ticks = list(np.linspace(bins[0], bins[-1], 5))
        labels = [f"{t:.3g}" for t in ticks]
        if any(above):  # never crossed: the value is the last ratio, shown as its own bar past the histogram
            last = float(part.loc[part["censored"] == ABOVE, "breakdown_ratio"].iloc[0])
            spot, step = bins[-1] + width, width / len(names)
            for k, count in enumerate(above):
                axis.bar(spot + (k - (len(names) - 1) / 2) * step, count, width=step, hatch="//", color=f"C{k}")
            ticks.append(spot)
            labels.append(f"> {last:g}")
        axis.set_xticks(ticks, labels)
        axis.set_ylabel("images")
        axis.set_title(f"mask {mask}: breakdown ratio ({threshold.text}), one value per image", fontsize=9)
        axis.legend(fontsize=8)
    axes[-1].set_xlabel("mask ratio where the seed-mean metric first crosses the threshold")
    figure.tight_layout()
    figure.savefig(path, format="png")
