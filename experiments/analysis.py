"""Mask-ratio study statistics: per-checkpoint summaries and paired differences, image-clustered.

Images are the unit of inference. The seeds of one image are several masks of the same photo, not several photos:
every statistic first averages an image's seeds into one value per image, then computes the mean, the standard
deviation (ddof 1) and the two-sided 95 % Student-t interval (n - 1 degrees of freedom, ``scipy.stats.t``) over
those per-image values. Only when a group holds a single image are the interval (and, for differences, the tests)
taken over that image's seeds, and they then describe that image only.

Paired differences compare two checkpoints on the cells where both saw the identical mask (same image, mask
strategy, ratio and seed, and equal ``mask_hash`` where recorded): per image, the mean of ``b`` minus the mean of
``a`` over those seeds; then over images the mean difference, its t-interval, the paired t-test
(``scipy.stats.ttest_rel``) and the Wilcoxon signed-rank test (``scipy.stats.wilcoxon``, SciPy's defaults), Holm's
step-down adjustment of the t-test p-values across the ratios of one mask, and Cohen's d_z (mean difference over
the standard deviation of the per-image differences, ddof 1).

Every function takes rows as :func:`experiments.store.load_runs` returns them. Duplicate cells (one run loaded
twice, two runs over the same cells) count once (:func:`experiments.selection.unique_cells`); cells whose copies
disagree are refused here - :func:`experiments.selection.select` sets them aside for a report.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from experiments.selection import unique_cells
from mae_core.options import METRIC_NAMES, SEED_METRICS

CONFIDENCE = 0.95
SUMMARY_COLUMNS = (
    "checkpoint",
    "loss_type",
    "mask",
    "mask_ratio",
    "n_images",
    "n_seeds",
    "mean",
    "sd",
    "ci_low",
    "ci_high",
    "ci_over",
)
PAIRED_COLUMNS = (
    "mask",
    "mask_ratio",
    "a",
    "b",
    "n_images",
    "mean_diff",
    "ci_low",
    "ci_high",
    "p_ttest",
    "p_wilcoxon",
    "p_holm",
    "effect_size",
)
IMAGE_GAP_COLUMNS = ("image", "a", "b", "n_cells", "mean_a", "mean_b", "mean_diff", "largest_diff", "largest_at")
# the cells two checkpoints share when they saw the same image under the same mask
PAIR_KEYS = ("image_key", "mask", "mask_ratio", "seed")


def check_metric(metric: str) -> str:
    if metric not in METRIC_NAMES:
        raise ValueError(f"unknown metric {metric!r}; expected one of {', '.join(METRIC_NAMES)}")
    return metric


def _not_computed(metric: str) -> str:
    """The one line for a metric the selected runs hold no value of, with how a run gets it when that is not the
    default (a seed metric needs asking for, and two or more seeds)."""
    how = f" (a sweep measures it with --metrics {metric} and two or more --seeds)" if metric in SEED_METRICS else ""
    return f"no {metric} values: the selected runs did not compute {metric}{how}"


def study_cells(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The unique cells of ``df`` that measured ``metric``; ``ValueError`` for a bad metric, no rows, or cells
    whose copies disagree."""
    check_metric(metric)
    if metric not in df.columns:
        raise ValueError(_not_computed(metric))
    missing = {"checkpoint", "mask_ratio", "seed", "image"} - set(df.columns)
    if missing:
        raise ValueError(f"the table lacks the column(s) {', '.join(sorted(missing))}; load it with load_runs()")
    if df.empty:
        raise ValueError("no rows to analyse: the selected runs hold no results yet")
    cells = unique_cells(df)
    if len(cells.conflicts):
        first = cells.conflicts.iloc[0]
        raise ValueError(
            f"{len(cells.conflicts)} cell(s) have different values in different rows, e.g. {first['image']} "
            f"{first['checkpoint']} ratio {first['mask_ratio']:g} seed {first['seed']} ({first['metric']}: "
            f"{first['values']}); report them with experiments.selection.select, which sets them aside"
        )
    frame = cells.frame.dropna(subset=[metric])
    if frame.empty:
        raise ValueError(_not_computed(metric))
    return frame


def t_interval(values: np.ndarray) -> tuple[float, float, float, float]:
    """(mean, sd, ci_low, ci_high): the two-sided 95 % Student-t interval of the mean, NaN below two values."""
    values = np.asarray(values, dtype=float)
    n = values.size
    mean = float(values.mean()) if n else math.nan
    if n < 2:
        return mean, math.nan, math.nan, math.nan
    sd = float(values.std(ddof=1))
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1)) * sd / math.sqrt(n)
    return mean, sd, mean - half, mean + half


def per_image(group: pd.DataFrame, metric: str) -> pd.Series:
    """One value per image: the mean of ``metric`` over the image's seeds."""
    return group.groupby("image_key", sort=True)[metric].mean()


def summarize(df: pd.DataFrame, metric: str = "loss") -> pd.DataFrame:
    """One row per checkpoint x mask x ratio (columns ``SUMMARY_COLUMNS``): the mean, sd and 95 % t-interval over
    the per-image means (``ci_over = "images"``), or over the seeds of the only image (``ci_over = "seeds"``)."""
    frame = study_cells(df, metric)
    rows = []
    for (checkpoint, mask), part in frame.groupby(["checkpoint", "mask"], sort=False):
        for ratio, group in part.groupby("mask_ratio", sort=True):
            images = per_image(group, metric)
            if len(images) == 1:
                mean, sd, low, high = t_interval(group[metric].to_numpy())
                over = "seeds"
            else:
                mean, sd, low, high = t_interval(images.to_numpy())
                over = "images"
            rows.append(
                {
                    "checkpoint": checkpoint,
                    "loss_type": str(group["loss_type"].iloc[0]),
                    "mask": mask,
                    "mask_ratio": float(ratio),
                    "n_images": len(images),
                    "n_seeds": int(group["seed"].nunique()),
                    "mean": mean,
                    "sd": sd,
                    "ci_low": low,
                    "ci_high": high,
                    "ci_over": over,
                }
            )
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def checkpoint_names(df: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(df["checkpoint"]))


def pair_checkpoints(df: pd.DataFrame, a: str | None = None, b: str | None = None) -> tuple[str, str]:
    """Which two checkpoints to compare, as (baseline ``a``, other ``b``).

    Defaults: ``a`` is the checkpoint whose loss_type is "pixel" and ``b`` the "gan" one; when loss types do not
    decide it and the runs hold two checkpoints, the first two in order of appearance. Naming one picks the other.
    """
    names = checkpoint_names(df)
    for given in (a, b):
        if given is not None and given not in names:
            raise ValueError(f"checkpoint {given!r} is not in these runs; they hold: {', '.join(names)}")
    if a is not None and a == b:
        raise ValueError(f"compare two different checkpoints, got {a!r} twice")
    if a is not None and b is not None:
        return a, b
    if len(names) < 2:
        raise ValueError(f"a paired difference needs two checkpoints; these runs hold only {', '.join(names)}")
    candidates = [_pixel_and_gan(df, names)] if len(names) > 2 else [_pixel_and_gan(df, names), tuple(names)]
    for pair in candidates:
        if pair and (a is None or a in pair) and (b is None or b in pair):
            other = {pair[0]: pair[1], pair[1]: pair[0]}
            return (a, other[a]) if a is not None else (other[b], b) if b is not None else pair
    raise ValueError(
        f"cannot tell which checkpoints to compare among {', '.join(names)}: name them (--a baseline, --b other)"
    )


def _pixel_and_gan(df: pd.DataFrame, names: list[str]) -> tuple[str, str] | None:
    """(the pixel-loss checkpoint, the GAN-loss one) when the runs hold exactly one of each."""
    if "loss_type" not in df:
        return None
    loss_types = df.drop_duplicates("checkpoint").set_index("checkpoint")["loss_type"]
    pixel = [n for n in names if loss_types.get(n) == "pixel"]
    gan = [n for n in names if loss_types.get(n) == "gan"]
    return (pixel[0], gan[0]) if len(pixel) == 1 and len(gan) == 1 else None


def paired_cells(frame: pd.DataFrame, metric: str, a: str, b: str) -> pd.DataFrame:
    """Cells of ``a`` and ``b`` that saw the identical mask: columns of ``PAIR_KEYS`` plus ``image``, ``a``, ``b``.

    ``frame`` holds unique cells (:func:`study_cells`). Rows pair on image content, mask strategy, ratio and seed;
    where both record a ``mask_hash`` the hashes must match, and rows written before hashes were recorded must at
    least remove the same number of patches."""
    columns = [*PAIR_KEYS, "image", "mask_hash", "masked_patches", metric]
    columns = [c for c in columns if c in frame.columns]
    side_a = frame.loc[frame["checkpoint"] == a, columns]
    side_b = frame.loc[frame["checkpoint"] == b, columns]
    both = side_a.merge(side_b, on=list(PAIR_KEYS), suffixes=("_a", "_b"))
    same = pd.Series(True, index=both.index)
    if "mask_hash_a" in both:
        hashed = (both["mask_hash_a"] != "") & (both["mask_hash_b"] != "")
        same &= ~hashed | (both["mask_hash_a"] == both["mask_hash_b"])
    if "masked_patches_a" in both:
        same &= both["masked_patches_a"] == both["masked_patches_b"]
    both = both[same]
    if both.empty:
        raise ValueError(
            f"no pairs: {a!r} and {b!r} share no (image, mask, ratio, seed) with the same mask; "
            "sweep both in one run, or over the same images, ratios and seeds"
        )
    out = both[list(PAIR_KEYS)].copy()
    out["image"] = both["image_a"]
    out["a"], out["b"] = both[f"{metric}_a"], both[f"{metric}_b"]
    return out.reset_index(drop=True)


def paired_difference(
    df: pd.DataFrame, metric: str = "loss", a: str | None = None, b: str | None = None
) -> pd.DataFrame:
    """Per mask x ratio, ``b - a`` over images (columns ``PAIRED_COLUMNS``); by default ``b`` is the GAN-loss
    checkpoint and ``a`` the pixel one. A point resting on a single image is computed over that image's seeds, as
    :func:`summarize` does, and holds for that image only."""
    frame = study_cells(df, metric)
    a, b = pair_checkpoints(frame, a, b)
    pairs = paired_cells(frame, metric, a, b)
    rows = []
    for (mask, ratio), group in pairs.groupby(["mask", "mask_ratio"], sort=True):
        means = group.groupby("image_key", sort=True)[["a", "b"]].mean()  # per image, over its paired seeds
        units = means if len(means) > 1 else group  # one image: over its seeds, as in summarize
        diffs = (units["b"] - units["a"]).to_numpy()
        mean, sd, low, high = t_interval(diffs)
        p_ttest, p_wilcoxon = paired_tests(units["b"].to_numpy(), units["a"].to_numpy())
        rows.append(
            {
                "mask": mask,
                "mask_ratio": float(ratio),
                "a": a,
                "b": b,
                "n_images": len(means),
                "mean_diff": mean,
                "ci_low": low,
                "ci_high": high,
                "p_ttest": p_ttest,
                "p_wilcoxon": p_wilcoxon,
                "effect_size": _ratio(mean, sd),
            }
        )
    table = pd.DataFrame(rows, columns=[c for c in PAIRED_COLUMNS if c != "p_holm"])
    holm = table.groupby("mask", sort=False)["p_ttest"].transform(lambda p: pd.Series(holm_adjust(p), p.index))
    table.insert(PAIRED_COLUMNS.index("p_holm"), "p_holm", holm.astype(float))
    return table


def image_gaps(df: pd.DataFrame, metric: str = "loss", a: str | None = None, b: str | None = None) -> pd.DataFrame:
    """Per image, the paired difference ``b - a`` over all its cells where both checkpoints saw the identical mask
    (every strategy, ratio and seed): columns ``IMAGE_GAP_COLUMNS``, the images with the largest mean gap (in
    size, either sign) first - the images that drive a study's difference, to look at one by one."""
    frame = study_cells(df, metric)
    a, b = pair_checkpoints(frame, a, b)
    pairs = paired_cells(frame, metric, a, b)
    pairs["diff"] = pairs["b"] - pairs["a"]
    rows = []
    for _, group in pairs.groupby("image_key", sort=False):
        largest = group["diff"].abs().idxmax()
        rows.append(
            {
                "image": group["image"].iloc[0],
                "a": a,
                "b": b,
                "n_cells": len(group),
                "mean_a": float(group["a"].mean()),
                "mean_b": float(group["b"].mean()),
                "mean_diff": float(group["diff"].mean()),
                "largest_diff": float(group.loc[largest, "diff"]),
                "largest_at": f"{group.loc[largest, 'mask']} {group.loc[largest, 'mask_ratio']:g} "
                f"seed {group.loc[largest, 'seed']}",
            }
        )
    table = pd.DataFrame(rows, columns=list(IMAGE_GAP_COLUMNS))
    order = table["mean_diff"].abs().sort_values(ascending=False, kind="stable").index
    return table.loc[order].reset_index(drop=True)


def paired_tests(b: np.ndarray, a: np.ndarray) -> tuple[float, float]:
    """Two-sided p-values of the paired t-test and the Wilcoxon signed-rank test of ``b`` against ``a``, with
    SciPy's defaults; NaN where a test is undefined (fewer than two pairs, all differences zero...)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small or degenerate samples: SciPy warns and returns NaN, kept as NaN
        p_ttest = float(stats.ttest_rel(b, a).pvalue) if len(a) >= 2 else math.nan
        try:
            p_wilcoxon = float(stats.wilcoxon(b, a).pvalue)
        except ValueError:
            p_wilcoxon = math.nan
    return p_ttest, p_wilcoxon


def holm_adjust(p_values) -> np.ndarray:
    """Holm's step-down adjustment: the i-th smallest of m p-values becomes max over j <= i of (m - j + 1) p_(j),
    capped at 1. NaN p-values stay NaN and do not count in m."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full(p.shape, math.nan)
    finite = np.flatnonzero(~np.isnan(p))
    order = finite[np.argsort(p[finite], kind="stable")]
    m = order.size
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return adjusted


def _ratio(mean: float, sd: float) -> float:
    if math.isnan(sd) or math.isnan(mean):
        return math.nan
    if sd == 0:
        return math.nan if mean == 0 else math.copysign(math.inf, mean)
    return mean / sd
