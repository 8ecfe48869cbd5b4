"""Mask-ratio study analysis: per-checkpoint summaries, paired differences, and the metric-vs-ratio plot.

Every function takes the DataFrame of :func:`experiments.store.load_runs` (one row per image, checkpoint, mask
ratio and seed). Confidence intervals are two-sided 95 %, Student-t with n - 1 degrees of freedom, over the rows
of a group (images x seeds). The t quantile is computed here (regularised incomplete beta), so the analysis needs
no SciPy at run time; the tests check it against SciPy.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from mae_core.metrics import METRIC_NAMES

METRIC_LABELS = {
    "loss": "loss (normalised pixels, removed patches)",
    "mse": "MSE ([0, 1] RGB, removed patches)",
    "psnr": "PSNR (dB, removed patches)",
}
CONFIDENCE = 0.95
# the pairing of two checkpoints: same image content, same mask (ratio + seed + patch count)
PAIR_COLUMNS = ("image_sha256", "mask_ratio", "seed", "masked_patches")


def check_metric(metric: str) -> str:
    if metric not in METRIC_NAMES:
        raise ValueError(f"unknown metric {metric!r}; expected one of {', '.join(METRIC_NAMES)}")
    return metric


def _check_frame(df: pd.DataFrame, metric: str) -> None:
    check_metric(metric)
    needed = {"checkpoint", "mask_ratio", metric}
    missing = needed - set(df.columns)
    if missing:
        raise ValueError(f"the table lacks the column(s) {', '.join(sorted(missing))}; load it with load_runs()")
    if df.empty:
        raise ValueError("no rows to analyse: the selected runs hold no results yet")


# ---- Student t without SciPy ----
def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        for numerator in (
            m * (b - m) * x / ((a - 1.0 + m2) * (a + m2)),
            -(a + m) * (a + b + m) * x / ((a + m2) * (a + 1.0 + m2)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            step = d * c
            h *= step
        if abs(step - 1.0) < 1e-15:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta ``I_x(a, b)``."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_two_sided_p(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with ``df`` degrees of freedom."""
    if not math.isfinite(t):
        return 0.0 if not math.isnan(t) else math.nan
    return _betainc(df / 2.0, 0.5, df / (df + t * t))


def t_quantile(confidence: float, df: float) -> float:
    """The ``t`` with P(|T| <= t) = ``confidence`` (e.g. 0.95, df 1 -> 12.706)."""
    if not 0.0 < confidence < 1.0 or df <= 0:
        raise ValueError(f"need 0 < confidence < 1 and df > 0, got confidence={confidence}, df={df}")
    alpha = 1.0 - confidence
    # I_x(df/2, 1/2) grows with x = df / (df + t^2): bisect on x, then map back to t
    lo, hi = 0.0, 1.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if _betainc(df / 2.0, 0.5, mid) < alpha:
            lo = mid
        else:
            hi = mid
    x = 0.5 * (lo + hi)
    return math.sqrt(df * (1.0 - x) / x)


def _describe(values: np.ndarray) -> dict[str, float]:
    values = values[~np.isnan(values)]
    n = int(values.size)
    mean = float(values.mean()) if n else math.nan
    if n < 2:
        return {"n": n, "mean": mean, "std": math.nan, "ci_low": math.nan, "ci_high": math.nan}
    std = float(values.std(ddof=1))
    half = t_quantile(CONFIDENCE, n - 1) * std / math.sqrt(n)
    return {"n": n, "mean": mean, "std": std, "ci_low": mean - half, "ci_high": mean + half}


def _checkpoint_order(df: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(df["checkpoint"]))


def summarize(df: pd.DataFrame, metric: str = "loss") -> pd.DataFrame:
    """One row per checkpoint x mask ratio: ``n`` (images x seeds), ``mean``, ``std``, 95 % t-interval."""
    _check_frame(df, metric)
    rows = []
    loss_types = df.groupby("checkpoint")["loss_type"].first() if "loss_type" in df else {}
    for checkpoint in _checkpoint_order(df):
        part = df[df["checkpoint"] == checkpoint]
        for ratio, group in part.groupby("mask_ratio", sort=True):
            stats = _describe(group[metric].to_numpy(dtype=float))
            rows.append(
                {
                    "checkpoint": checkpoint,
                    "loss_type": loss_types.get(checkpoint, "unknown"),
                    "mask_ratio": float(ratio),
                    **stats,
                }
            )
    return pd.DataFrame(
        rows, columns=["checkpoint", "loss_type", "mask_ratio", "n", "mean", "std", "ci_low", "ci_high"]
    )


def pair_checkpoints(df: pd.DataFrame, a: str | None = None, b: str | None = None) -> tuple[str, str]:
    """Which two checkpoints to compare, as (baseline ``a``, other ``b``).

    Defaults: ``a`` is the checkpoint whose loss_type is "pixel" and ``b`` the "gan" one; when loss types do not
    decide it, the first two checkpoint names in order of appearance.
    """
    names = _checkpoint_order(df)
    for given in (a, b):
        if given is not None and given not in names:
            raise ValueError(f"checkpoint {given!r} is not in these runs; they hold: {', '.join(names)}")
    if a is not None and b is not None:
        if a == b:
            raise ValueError(f"compare two different checkpoints, got {a!r} twice")
        return a, b
    by_type: dict[str, list[str]] = {}
    if "loss_type" in df:
        for name in names:
            loss_type = str(df.loc[df["checkpoint"] == name, "loss_type"].iloc[0])
            by_type.setdefault(loss_type, []).append(name)
    pixel, gan = by_type.get("pixel", []), by_type.get("gan", [])
    if len(pixel) == 1 and len(gan) == 1:
        a, b = a or pixel[0], b or gan[0]
    else:
        if len(names) != 2 and (a is None or b is None):
            raise ValueError(
                f"cannot tell which checkpoints to compare among {', '.join(names)}: "
                "name them (a = baseline, b = the other)"
            )
        rest = [n for n in names if n not in (a, b)]
        a = a or rest.pop(0)
        b = b or rest.pop(0)
    if a == b:
        raise ValueError(f"compare two different checkpoints, got {a!r} twice")
    return a, b


def paired_difference(
    df: pd.DataFrame, metric: str = "loss", a: str | None = None, b: str | None = None
) -> pd.DataFrame:
    """Per mask ratio, the mean of ``b - a`` over (image, seed) pairs that saw the identical mask, with its 95 %
    t-interval and two-sided p-value. By default ``b`` is the GAN-loss checkpoint and ``a`` the pixel one."""
    _check_frame(df, metric)
    a, b = pair_checkpoints(df, a, b)
    keys = [c for c in PAIR_COLUMNS if c in df.columns]
    if "image_sha256" not in keys and "image" in df.columns:
        keys.insert(0, "image")
    # a cell measured in several runs counts once (its mean) so it does not weigh more
    side_a = df[df["checkpoint"] == a].groupby(keys)[metric].mean()
    side_b = df[df["checkpoint"] == b].groupby(keys)[metric].mean()
    paired = pd.concat({"a": side_a, "b": side_b}, axis=1, join="inner").reset_index()
    if paired.empty:
        raise ValueError(
            f"no pairs: {a!r} and {b!r} share no (image, mask ratio, seed) with the same mask; "
            "sweep both in one run, or over the same images, ratios and seeds"
        )
    paired["diff"] = paired["b"] - paired["a"]
    rows = []
    for ratio, group in paired.groupby("mask_ratio", sort=True):
        stats = _describe(group["diff"].to_numpy(dtype=float))
        if stats["n"] >= 2 and stats["std"] > 0:
            t = stats["mean"] / (stats["std"] / math.sqrt(stats["n"]))
            p_value = t_two_sided_p(t, stats["n"] - 1)
        elif stats["n"] >= 2:
            p_value = 1.0 if stats["mean"] == 0 else 0.0
        else:
            p_value = math.nan
        rows.append({"mask_ratio": float(ratio), "a": a, "b": b, **stats, "p_value": p_value})
    return pd.DataFrame(rows, columns=["mask_ratio", "a", "b", "n", "mean", "std", "ci_low", "ci_high", "p_value"])


def plot_metric(df: pd.DataFrame, metric: str = "loss", path: str | os.PathLike | None = None) -> Figure:
    """Mean ``metric`` vs mask ratio, one line per checkpoint with its 95 % band; saved as PNG when ``path``."""
    summary = summarize(df, metric)
    figure = Figure(figsize=(7, 4.5), dpi=120)
    FigureCanvasAgg(figure)  # Agg, no pyplot: safe in servers and threads
    ax = figure.add_subplot(1, 1, 1)
    for checkpoint in _checkpoint_order(summary):
        part = summary[summary["checkpoint"] == checkpoint].sort_values("mask_ratio")
        loss_type = part["loss_type"].iloc[0]
        label = checkpoint if loss_type in ("unknown", "", checkpoint) else f"{checkpoint} ({loss_type})"
        (line,) = ax.plot(part["mask_ratio"], part["mean"], marker="o", label=label)
        band = part.dropna(subset=["ci_low", "ci_high"])
        if len(band):
            ax.fill_between(band["mask_ratio"], band["ci_low"], band["ci_high"], color=line.get_color(), alpha=0.2)
    per_group = int(summary["n"].max()) if len(summary) else 0
    ax.set_xlabel("mask ratio")
    ax.set_ylabel(METRIC_LABELS[metric])
    ax.set_title(f"{metric} vs mask ratio (mean, 95% CI, n = {per_group} image x seed per point)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    figure.tight_layout()
    if path is not None:
        figure.savefig(path, format="png")
    return figure


@dataclass(frozen=True)
class Report:
    """What ``python -m experiments report`` wrote and printed."""

    folder: Path
    summary: pd.DataFrame
    paired: pd.DataFrame | None  # None when the runs hold fewer than two checkpoints
    files: tuple[Path, ...]
    text: str
    notes: tuple[str, ...] = field(default=())


def write_report(df: pd.DataFrame, folder: str | os.PathLike, metric: str = "loss") -> Report:
    """Write ``summary_<metric>.csv``, ``paired_<metric>.csv`` and ``<metric>_vs_ratio.png`` into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    summary = summarize(df, metric)
    files = [folder / f"summary_{metric}.csv"]
    summary.to_csv(files[-1], index=False)
    notes = []
    paired = None
    if df["checkpoint"].nunique() >= 2:
        try:
            paired = paired_difference(df, metric)
        except ValueError as err:
            notes.append(f"no paired difference: {err}")
        else:
            files.append(folder / f"paired_{metric}.csv")
            paired.to_csv(files[-1], index=False)
    else:
        notes.append("no paired difference: the runs hold a single checkpoint")
    files.append(folder / f"{metric}_vs_ratio.png")
    plot_metric(df, metric, files[-1])
    text = _format_text(df, summary, paired, metric, notes)
    files.append(folder / f"report_{metric}.txt")
    files[-1].write_text(text, encoding="utf-8")
    return Report(folder=folder, summary=summary, paired=paired, files=tuple(files), text=text, notes=tuple(notes))


def _format_text(
    df: pd.DataFrame, summary: pd.DataFrame, paired: pd.DataFrame | None, metric: str, notes: Sequence[str]
) -> str:
    images = df["image"].nunique() if "image" in df else "?"
    seeds = df["seed"].nunique() if "seed" in df else "?"
    lines = [
        f"{metric}: {len(df)} rows, {images} images, {seeds} seeds, runs {', '.join(dict.fromkeys(df['run_id']))}",
        "",
        f"{metric} per checkpoint and mask ratio (mean, std, 95% t-interval over images x seeds)",
        summary.to_string(index=False, float_format=lambda v: f"{v:.6g}"),
    ]
    if paired is not None:
        a, b = paired["a"].iloc[0], paired["b"].iloc[0]
        lines += [
            "",
            f"paired difference {b} - {a} (same image, seed and mask), 95% t-interval",
            paired.drop(columns=["a", "b"]).to_string(index=False, float_format=lambda v: f"{v:.6g}"),
        ]
    lines += [f"note: {n}" for n in notes]
    return "\n".join(lines) + "\n"
