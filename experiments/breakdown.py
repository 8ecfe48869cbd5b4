"""Breakdown ratio: for each image and checkpoint, the smallest mask ratio at which a metric crosses a threshold
(``psnr<20``: PSNR falls below 20 dB; ``lpips>0.4``: LPIPS rises above 0.4).

Per image, checkpoint and mask strategy, the metric is averaged over the image's seeds at each measured ratio (a
curve over ratios). The breakdown ratio is where that curve FIRST crosses the threshold, interpolated linearly
between the last ratio that did not cross and the first that did. Censored values: ``>`` when the curve never
crosses (the value is then the last ratio, a lower bound), ``<=`` when it already crosses at the first ratio (the
value is the first ratio, an upper bound). The 95 % interval is a percentile bootstrap over seeds
(``scipy.stats.bootstrap``, :data:`N_RESAMPLES` resamples, seeded): the image's seeds are resampled with
replacement, each resample's curve is averaged and its breakdown ratio taken (censored ones at their bound). Each
image's bootstrap draws from its own generator, seeded by :data:`BOOTSTRAP_SEED` and the image's identity, so an
image's numbers depend on its own rows only: :func:`image_breakdown` (the app's one image) gives the report's rows.
A metric of all the seeds at once (``spread``) has no interval over seeds: every seed row holds the same value, so
the intervals are NaN.

Between checkpoints, per image the difference ``b - a`` of the two breakdown ratios (censored values at their
bound: with ``>`` on one side the difference is itself a bound) with a paired bootstrap interval (the seeds resampled
together for both checkpoints: :func:`breakdown_differences`), and over images the Wilcoxon signed-rank test of
those differences (``scipy.stats.wilcoxon``, SciPy's defaults: zero differences dropped).
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy import stats

from experiments.analysis import CONFIDENCE, pair_checkpoints, study_cells
from mae_core.options import METRIC_NAMES, SEED_METRICS

N_RESAMPLES = 999
BOOTSTRAP_SEED = 0  # the bootstrap's randomness is an argument, fixed so a report is reproducible
ABOVE, BELOW = ">", "<="  # censoring marks: never crossed (value = last ratio), crossed at the first ratio
# a difference b - a with a censored side is a bound: at least (">="), at most ("<="), or either way ("?")
AT_LEAST, AT_MOST, EITHER_WAY = ">=", "<=", "?"
MIN_RATIOS = 2  # a curve over fewer measured ratios has no crossing to find

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
DIFFERENCE_COLUMNS = (
    "image",
    "image_sha256",
    "mask",
    "threshold",
    "a",
    "b",
    "n_seeds",
    "diff",
    "censored",
    "ci_low",
    "ci_high",
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
    for (key, checkpoint, mask), group in frame.groupby(["image_key", "checkpoint", "mask"], sort=False):
        table = _seed_curves(group, threshold.metric).dropna(axis=0)  # seeds measured at every ratio of this image
        ratios = table.columns.to_numpy(dtype=float)
        values = table.to_numpy(dtype=float)  # [S, R]
        value, censored = breakdown_of_curves(values.mean(axis=0, keepdims=True), ratios, threshold)
        low, high = _interval(values, ratios, threshold, key)
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


def breakdown_differences(
    df: pd.DataFrame, threshold: Threshold, a: str | None = None, b: str | None = None
) -> pd.DataFrame:
    """One row per image x mask (``DIFFERENCE_COLUMNS``): ``b``'s breakdown ratio minus ``a``'s over the seeds both
    measured at every ratio both measured (in a balanced selection: exactly the two rows of
    :func:`breakdown_ratios`), with a paired percentile bootstrap interval (the seeds resampled together for both
    checkpoints, within the image). ``censored``: "" when both sides crossed, else the difference is a bound:
    ``>=`` (at least), ``<=`` (at most), ``?`` (the two sides' bounds point opposite ways)."""
    frame = study_cells(df, threshold.metric)
    a, b = pair_checkpoints(frame, a, b)
    rows = []
    for (key, mask), group in frame.groupby(["image_key", "mask"], sort=False):
        sides = [_seed_curves(group[group["checkpoint"] == name], threshold.metric) for name in (a, b)]
        ratios = sides[0].columns.intersection(sides[1].columns).sort_values()
        if len(ratios) == 0:  # one checkpoint only measured this image and mask
            continue
        sides = [side[ratios].dropna(axis=0) for side in sides]
        seeds = sides[0].index.intersection(sides[1].index)
        if len(seeds) == 0:
            continue
        grid = ratios.to_numpy(dtype=float)
        va, vb = (side.loc[seeds].to_numpy(dtype=float) for side in sides)  # [S, R] each, the same seeds
        (value_a, value_b), (censored_a, censored_b) = breakdown_of_curves(
            np.stack([va.mean(axis=0), vb.mean(axis=0)]), grid, threshold
        )
        low, high = _interval(vb, grid, threshold, key, baseline=va)
        rows.append(
            {
                "image": group["image"].iloc[0],
                "image_sha256": str(group["image_sha256"].iloc[0]),
                "mask": mask,
                "threshold": threshold.text,
                "a": a,
                "b": b,
                "n_seeds": len(seeds),
                "diff": float(value_b - value_a),
                "censored": _difference_bound(str(censored_a), str(censored_b)),
                "ci_low": low,
                "ci_high": high,
            }
        )
    return pd.DataFrame(rows, columns=list(DIFFERENCE_COLUMNS))


class TooFewRatios(ValueError):
    """An image measured at fewer than :data:`MIN_RATIOS` mask ratios: there is no curve to cross."""


def check_ratios(frame: pd.DataFrame, what: str) -> None:
    """:class:`TooFewRatios` (naming ``what``: "image 'cat.png'", "the selection") when ``frame``'s rows hold fewer
    than :data:`MIN_RATIOS` mask ratios under every mask strategy: no curve there has a crossing to find."""
    if frame.groupby("mask")["mask_ratio"].nunique().max() < MIN_RATIOS:
        listed = ", ".join(f"{r:g}" for r in sorted(float(r) for r in frame["mask_ratio"].unique()))
        raise TooFewRatios(f"a breakdown needs at least {MIN_RATIOS} mask ratios; {what} was measured at {listed} only")


@dataclass(frozen=True)
class ImageBreakdown:
    """One image's breakdown: its rows of the report's tables."""

    image: str
    threshold: Threshold
    ratios: pd.DataFrame  # BREAKDOWN_COLUMNS, one row per checkpoint x mask
    differences: pd.DataFrame  # DIFFERENCE_COLUMNS, one row per mask; empty without a pair


def image_breakdown(
    frame: pd.DataFrame, image: str, threshold: Threshold, pair: tuple[str, str] | None = None
) -> ImageBreakdown:
    """The breakdown rows of image ``image`` (its name in the runs) that the report writes for the cells ``frame``
    (its selection), and with ``pair`` (a, b) the paired difference. ``ValueError`` when ``frame`` holds no such
    image, :class:`TooFewRatios` when it measured it at fewer than :data:`MIN_RATIOS` ratios under every mask
    strategy."""
    rows = frame[frame["image"] == image]
    if rows.empty:
        raise ValueError(f"the selected cells hold no image {image!r}")
    check_ratios(rows, f"image {image!r}")
    ratios = breakdown_ratios(rows, threshold)
    if pair is None or rows["checkpoint"].nunique() < 2:
        return ImageBreakdown(image, threshold, ratios, pd.DataFrame(columns=list(DIFFERENCE_COLUMNS)))
    return ImageBreakdown(image, threshold, ratios, breakdown_differences(rows, threshold, *pair))


def _seed_curves(group: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One checkpoint's cells of one image and mask -> [seeds x ratios] table of ``metric``, ratios ascending."""
    return group.pivot_table(index="seed", columns="mask_ratio", values=metric, aggfunc="mean")


def _seed_mean_ratio(values: np.ndarray, rows: np.ndarray, ratios: np.ndarray, threshold: Threshold) -> np.ndarray:
    """The breakdown ratio [B] of each set of seed rows ``rows`` [B, S] of ``values`` [S, R]: their mean curve's
    first crossing (censored values at their bound)."""
    return breakdown_of_curves(values[rows].mean(axis=1), ratios, threshold)[0]


def _difference_bound(censored_a: str, censored_b: str) -> str:
    """How ``b - a`` relates to its value when a side is censored: a side that never crossed (``>``) lies above its
    value, one that crossed at the first ratio (``<=``) at or below it."""
    up = censored_b == ABOVE or censored_a == BELOW  # the true b higher or the true a lower: b - a at least
    down = censored_b == BELOW or censored_a == ABOVE
    return EITHER_WAY if up and down else AT_LEAST if up else AT_MOST if down else ""


def _rng(image_key: object) -> np.random.Generator:
    """One image's bootstrap generator: :data:`BOOTSTRAP_SEED` and the image's identity (its sha256, else name)."""
    digest = hashlib.sha256(str(image_key).encode()).digest()
    return np.random.default_rng([BOOTSTRAP_SEED, int.from_bytes(digest[:8], "little")])


def _interval(
    values: np.ndarray,
    ratios: np.ndarray,
    threshold: Threshold,
    image_key: object,
    *,
    baseline: np.ndarray | None = None,
) -> tuple[float, float]:
    """The percentile bootstrap interval over an image's seeds (the rows of ``values`` [S, R]) of its breakdown
    ratio, or with ``baseline`` [S, R] (the same seeds, another checkpoint) of the difference ``values``'s minus
    ``baseline``'s, the seeds resampled together for both; NaN with one seed, and for a metric of all the seeds at
    once (``spread``: no variation over seeds to resample)."""
    if values.shape[0] < 2 or threshold.metric in SEED_METRICS:
        return math.nan, math.nan

    def statistic(index: np.ndarray, axis: int = -1) -> np.ndarray:
        index = np.asarray(index, dtype=int)  # [..., S] resampled seed rows
        flat = index.reshape(-1, index.shape[-1])
        value = _seed_mean_ratio(values, flat, ratios, threshold)
        if baseline is not None:
            value = value - _seed_mean_ratio(baseline, flat, ratios, threshold)
        return value.reshape(index.shape[:-1])

    result = stats.bootstrap(
        (np.arange(values.shape[0]),),
        statistic,
        vectorized=True,
        n_resamples=N_RESAMPLES,
        confidence_level=CONFIDENCE,
        method="percentile",
        rng=_rng(image_key),
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
