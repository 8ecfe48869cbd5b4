"""The per-image part of a report, written beside :func:`experiments.report.write_report`'s files: breakdown ratios
(:mod:`experiments.breakdown`) for each ``--breakdown`` threshold, and for a pair of checkpoints the images ranked
by their paired difference with a contact sheet of the extremes (:mod:`experiments.ranking`), for every metric the
selected cells carry."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from experiments.breakdown import (
    Threshold,
    TooFewRatios,
    breakdown_differences,
    breakdown_distribution,
    breakdown_paired,
    breakdown_ratios,
    check_ratios,
    plot_breakdown,
)
from experiments.csv_text import write_csv
from experiments.ranking import contact_sheet, rank_images, sheet_images
from experiments.report import text_table
from experiments.run_images import RunImage
from mae_core.options import METRIC_NAMES, SEED_METRICS


@dataclass(frozen=True)
class ImageReport:
    files: tuple[Path, ...]
    text: str


def write_image_report(
    frame: pd.DataFrame,
    folder: Path,
    *,
    thresholds: Sequence[Threshold] = (),
    pair: tuple[str, str] | None,
    locate: Callable[[set[str]], Mapping[str, RunImage | str]],
) -> ImageReport:
    """``frame``: the report's selected cells (``Report.selection.frame``); ``pair``: (a, b) of its paired
    difference, None without one; ``locate(sha256s)``: each of those images' file or why it is unavailable
    (:func:`experiments.ranking.locate_run_images`), asked once for the images the contact sheets show."""
    written: list[Path] = []
    lines: list[str] = []
    for threshold in thresholds:
        try:
            check_ratios(frame, "the selection")
        except TooFewRatios as err:
            lines += ["", f"breakdown ratio ({threshold.text}): not computed: {err}"]
            continue
        table = breakdown_ratios(frame, threshold)
        distribution = breakdown_distribution(table)
        written.append(write_csv(table, folder / f"breakdown_{threshold.slug}.csv"))
        written.append(write_csv(distribution, folder / f"breakdown_distribution_{threshold.slug}.csv"))
        lines += [
            "",
            f"breakdown ratio ({threshold.text}): per image, the smallest mask ratio where the seed-mean "
            f"{threshold.metric} crosses {threshold.value:g}, interpolated between measured ratios ('>' never "
            "crossed: the last ratio; '<=' crossed at the first); "
            + (
                f"no interval: {threshold.metric} is one value per image over all its seeds"
                if threshold.metric in SEED_METRICS
                else "95% percentile bootstrap over seeds per image"
            ),
            text_table(distribution),
        ]
        if pair is not None and table["checkpoint"].nunique() >= 2:
            paired = breakdown_paired(table, *pair)
            written.append(write_csv(paired, folder / f"breakdown_paired_{threshold.slug}.csv"))
            differences = breakdown_differences(frame, threshold, *pair)
            written.append(write_csv(differences, folder / f"breakdown_differences_{threshold.slug}.csv"))
            lines += [
                f"paired breakdown {pair[1]} - {pair[0]} per image (censored values at their bound), Wilcoxon "
                "signed-rank over images:",
                text_table(paired.drop(columns=["threshold"])),
                f"per image: breakdown_differences_{threshold.slug}.csv ({pair[1]} - {pair[0]} with a paired "
                "bootstrap interval over the image's seeds)",
            ]
        written.append(folder / f"breakdown_{threshold.slug}.png")
        plot_breakdown(table, threshold, written[-1])
    if pair is not None:
        unavailable: dict[str, str] = {}
        skipped: list[str] = []
        rankings = {}
        for metric in [m for m in METRIC_NAMES if m in frame.columns and frame[m].notna().any()]:
            try:
                rankings[metric] = rank_images(frame, metric, *pair)
            except ValueError as err:  # e.g. a metric only one checkpoint's rows carry: no pairs to rank
                skipped.append(f"note: no ranking of {metric}: {err}")
        files = locate(set().union(*(sheet_images(r) for r in rankings.values()))) if rankings else {}
        for metric, ranking in rankings.items():
            written.append(write_csv(ranking, folder / f"ranking_{metric}.csv"))
            sheet = contact_sheet(ranking, files, metric, folder / f"contact_sheet_{metric}.png")
            written.append(sheet.path)
            unavailable.update(sheet.unavailable)
        lines += [
            "",
            f"images ranked by their seed-mean paired difference {pair[1]} - {pair[0]} per mask and ratio "
            "(ranking_<metric>.csv, 95% t-interval over the image's seeds); contact sheets of the top and bottom "
            f"images: contact_sheet_<metric>.png",
            *(
                f"note: ranking_{metric}.csv has no interval (ci_low, ci_high empty): {metric} is one value per "
                "image over all its seeds"
                for metric in rankings
                if metric in SEED_METRICS
            ),
        ]
        lines += [
            f"note: image {name} is unavailable on the contact sheets: {why}" for name, why in unavailable.items()
        ]
        lines += skipped
    return ImageReport(tuple(written), "\n".join(lines) + ("\n" if lines else ""))
