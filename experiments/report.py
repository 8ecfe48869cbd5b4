"""A study report: the selected cells, the summary and paired tables, the figure and a text a reviewer can check.

``write_report`` writes, into a folder of its own (never over another report):
``summary_<metric>.csv``, ``paired_<metric>.csv`` (two checkpoints), ``<metric>_vs_ratio.png``,
``report_<metric>.txt``, and where there is something to say ``left_out_<metric>.csv`` (images a balanced report
did not use, and why), ``conflicts_<metric>.csv`` (cells with different values in different runs) and
``images_per_ratio_<metric>.csv`` (which images each point used, for an unbalanced report).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from experiments.csv_text import write_csv
from experiments.figure import plot_study, runs_text, study_title
from experiments.selection import Selection
from experiments.study import analyse

REPORTS_DIR = "reports"


@dataclass(frozen=True)
class Report:
    """What ``python -m experiments report`` wrote and printed."""

    folder: Path
    selection: Selection
    summary: pd.DataFrame
    paired: pd.DataFrame | None  # None when there is no pair of checkpoints to compare
    files: tuple[Path, ...]
    text: str
    notes: tuple[str, ...] = field(default=())


def new_report_folder(root: str | os.PathLike, run_ids: Sequence[str], metric: str) -> Path:
    """``<root>/reports/<runs>_<metric>_<UTC time>[-N]``, created here: two reports never share a folder."""
    run_ids = list(dict.fromkeys(run_ids))
    runs = "+".join(run_ids) if len("+".join(run_ids)) <= 80 else f"{run_ids[0]}+{len(run_ids) - 1}more"
    base = Path(root) / REPORTS_DIR
    base.mkdir(parents=True, exist_ok=True)
    stem = f"{runs}_{metric}_{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"
    for attempt in range(1, 1000):
        folder = base / (stem if attempt == 1 else f"{stem}-{attempt}")
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder
    raise FileExistsError(f"{base}: too many reports named {stem}")


def write_report(
    df: pd.DataFrame,
    folder: str | os.PathLike,
    metric: str = "loss",
    *,
    a: str | None = None,
    b: str | None = None,
    allow_unbalanced: bool = False,
    statuses: Mapping[str, str] | None = None,
    planned: pd.DataFrame | None = None,
    unreadable: Sequence[str] = (),
) -> Report:
    """Select the cells of ``df`` (see :func:`experiments.selection.select`), write the tables, figure and text
    into ``folder``. ``statuses`` maps each run id to its manifest status: runs not finished are named.
    ``planned`` (:func:`experiments.selection.planned_images`): the runs' images, so that those without any row
    are counted and named among the images left out. ``unreadable``: one line per file whose unreadable lines were
    left out while loading ``df`` (:func:`experiments.store.skipped_notes`), repeated in the notes."""
    study = analyse(df, metric, a, b, allow_unbalanced=allow_unbalanced, planned=planned)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    run_ids = list(statuses) if statuses else list(dict.fromkeys(df["run_id"])) if "run_id" in df else []
    selection, summary, paired, no_pair = study.selection, study.summary, study.paired, study.no_pair
    files = [_csv(summary, folder / f"summary_{metric}.csv")]
    if paired is not None:
        files.append(_csv(paired, folder / f"paired_{metric}.csv"))
    for table, name in (
        (selection.left_out, "left_out"),
        (selection.conflicts.drop(columns=["image_key"]), "conflicts"),
        (selection.images_used if allow_unbalanced else selection.left_out.iloc[:0], "images_per_ratio"),
    ):
        if len(table):
            files.append(_csv(table, folder / f"{name}_{metric}.csv"))
    files.append(folder / f"{metric}_vs_ratio.png")
    title = study_title(metric, run_ids, summary)
    plot_study(summary, paired, metric=metric, title=title, path=files[-1], no_pair_reason=no_pair)
    notes = [*unreadable, *_notes(selection, summary, run_ids, statuses or {}, no_pair)]
    text = _text(selection, summary, paired, metric, run_ids, statuses or {}, notes)
    files.append(folder / f"report_{metric}.txt")
    files[-1].write_text(text, encoding="utf-8")
    return Report(
        folder=folder,
        selection=selection,
        summary=summary,
        paired=paired,
        files=tuple(files),
        text=text,
        notes=tuple(notes),
    )


def _csv(table: pd.DataFrame, path: Path) -> Path:
    return write_csv(table, path)  # names as losses.csv holds them: never a spreadsheet formula


def _notes(
    selection: Selection,
    summary: pd.DataFrame,
    run_ids: Sequence[str],
    statuses: Mapping[str, str],
    no_pair: str,
) -> list[str]:
    notes = [
        f"run {run_id} is {status}, not finished: its missing cells are absent"
        for run_id, status in statuses.items()
        if status != "finished"
    ]
    if selection.collapsed:
        notes.append(
            f"{selection.collapsed} duplicate row(s) collapsed: the same cell (image content, checkpoint, mask, "
            "ratio, seed, crop, dtype) was loaded more than once with the same values; each cell counts once"
        )
    if len(selection.conflicts):
        cells = selection.conflicts.drop_duplicates(["image_key", "checkpoint", "mask", "mask_ratio", "seed"])
        notes.append(
            f"{len(cells)} cell(s) have different values in different runs and are left out, not averaged "
            "(see conflicts_<metric>.csv)"
        )
    notes.extend(selection.notes)
    notes.extend(_single_image_notes(selection.frame, summary))
    if no_pair:
        notes.append(f"no paired difference: {no_pair}")
    return notes


def _single_image_notes(frame: pd.DataFrame, summary: pd.DataFrame) -> list[str]:
    """Where a point rests on one image, say which and that the result is about that image only."""
    single = summary[summary["ci_over"] == "seeds"]
    if single.empty:
        return []
    points = frame.merge(single[["checkpoint", "mask", "mask_ratio"]], on=["checkpoint", "mask", "mask_ratio"])
    notes = []
    for image, part in points.groupby("image", sort=False):
        count = len(part.drop_duplicates(["checkpoint", "mask", "mask_ratio"]))
        where = "every point" if len(single) == len(summary) else f"{count} point(s)"
        notes.append(
            f"a single image ({image}) at {where}: the interval is over its seeds, and the result holds for "
            "that image only"
        )
    return notes


def _text(
    selection: Selection,
    summary: pd.DataFrame,
    paired: pd.DataFrame | None,
    metric: str,
    run_ids: Sequence[str],
    statuses: Mapping[str, str],
    notes: Sequence[str],
) -> str:
    runs = ", ".join(f"{r} ({statuses[r]})" if r in statuses else r for r in run_ids) or runs_text([])
    lines = [f"{metric}: runs {runs}", _scope_text(selection), ""]
    lines += [
        f"{metric} per checkpoint, mask and ratio: each image's value is its mean over seeds; mean, sd and the "
        "95% Student-t interval are over images (ci_over)",
        text_table(summary),
    ]
    if paired is not None:
        a, b = paired["a"].iloc[0], paired["b"].iloc[0]
        lines += [
            "",
            f"paired difference {b} - {a} on identical masks, per image first: 95% t-interval over images, paired "
            "t-test and Wilcoxon signed-rank p (scipy.stats), Holm-adjusted t-test p across the ratios of a mask, "
            "effect size d_z = mean_diff / sd of the per-image differences",
            text_table(paired.drop(columns=["a", "b"])),
        ]
    if len(selection.left_out):
        lines += ["", f"{len(selection.left_out)} image(s) left out:"]
        lines += [f"  {row.image}: {row.reason}" for row in selection.left_out.itertuples()]
    if not selection.balanced:
        lines += ["", "images used per ratio (unbalanced: points may cover different images):"]
        lines += [
            f"  {row.mask} {row.mask_ratio:g}: {row.n_images} image(s) {row.images}"
            for row in selection.images_used.itertuples()
        ]
    lines += [f"note: {note}" for note in notes]
    return "\n".join(lines) + "\n"


def _scope_text(selection: Selection) -> str:
    frame = selection.frame
    grid = (
        f"{frame['checkpoint'].nunique()} checkpoint(s) x {frame['mask'].nunique()} mask(s) x "
        f"{frame['mask_ratio'].nunique()} ratio(s) x {selection.n_seeds} seed(s)"
    )
    if selection.balanced:
        left = len(selection.left_out)
        return (
            f"balanced: {selection.n_images} image(s) hold every cell ({grid}), {len(frame)} cells used; "
            f"{left} image(s) left out"
        )
    left = f"; {len(selection.left_out)} image(s) without rows left out" if len(selection.left_out) else ""
    return f"unbalanced (--allow-unbalanced): {selection.n_images} image(s), {len(frame)} cells used ({grid}){left}"


def text_table(table: pd.DataFrame) -> str:
    """A report table as printed: no index, numbers to 6 significant digits."""
    return table.to_string(index=False, float_format=lambda v: f"{v:.6g}")
