"""Which measured cells a study uses: one row per cell, conflicts set aside, and only images measured everywhere.

A cell is one measurement: (image content sha256, checkpoint sha256, mask strategy, mask ratio, seed, crop, dtype).
Loading several runs (or one run twice) can bring the same cell more than once. :func:`unique_cells` keeps one row
per cell when the copies agree and sets the cell aside as a conflict when they do not: a report never averages two
different answers to the same question. Values agree when every metric measured in both copies is equal up to
float32 rounding (relative 1e-5); a metric missing in one copy (not computed in that run) is taken from the other.

:func:`select` then keeps, by default, only the images that hold every (checkpoint, mask, ratio, seed) cell of the
selection, so each point of a curve is computed over the same images, and says which images it left out and why -
including the images a run set out to measure and holds no row of (unreadable, or not reached by a run cut short),
given as :func:`planned_images`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import product

import numpy as np
import pandas as pd

from experiments.manifest import Manifest
from mae_core.options import METRIC_NAMES

# the cell's identity, as columns of a loaded frame; the image and checkpoint are their content hashes
IDENTITY = ("image_key", "checkpoint_key", "mask", "mask_ratio", "seed", "crop", "dtype")
# what distinguishes the cells an image needs: one per checkpoint x mask x ratio x seed
GRID = ("checkpoint", "mask", "mask_ratio", "seed")
# columns a frame from a store written before they existed may lack, with the value they had then
LEGACY_DEFAULTS = {"crop": False, "mask": "random", "mask_hash": "", "dtype": "float32", "loss_type": "unknown"}
# copies of a cell agree when their metrics are equal up to float32 rounding
AGREE_RTOL, AGREE_ATOL = 1e-5, 1e-9
_CONFLICT_COLUMNS = (
    "image",
    "image_sha256",
    "image_key",
    "checkpoint",
    "mask",
    "mask_ratio",
    "seed",
    "runs",
    "metric",
    "values",
)
_LEFT_OUT_COLUMNS = ("image", "image_sha256", "cells", "expected", "reason")


@dataclass(frozen=True)
class Cells:
    """The rows of some runs reduced to one row per cell."""

    frame: pd.DataFrame  # one row per agreeing cell, with ``image_key`` / ``checkpoint_key`` columns added
    collapsed: int  # duplicate rows of agreeing cells that were dropped
    conflicts: pd.DataFrame  # one row per (cell, metric) whose copies disagree; those cells are not in ``frame``
    renamed: tuple[str, ...] = ()  # notes on checkpoints whose names differ between runs


@dataclass(frozen=True)
class Selection:
    """The cells a report uses, and what it left out."""

    frame: pd.DataFrame  # the cells used
    collapsed: int
    conflicts: pd.DataFrame
    left_out: pd.DataFrame  # columns image, image_sha256, cells, expected, reason
    balanced: bool
    images_used: pd.DataFrame  # per mask x ratio: n_images and the image names (what an unbalanced report used)
    notes: tuple[str, ...] = field(default=())

    @property
    def n_images(self) -> int:
        return int(self.frame["image_key"].nunique())

    @property
    def n_seeds(self) -> int:
        return int(self.frame["seed"].nunique())


def metric_columns(frame: pd.DataFrame) -> list[str]:
    return [m for m in METRIC_NAMES if m in frame.columns]


def with_identity(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with the legacy columns filled and ``image_key`` / ``checkpoint_key`` added: the content
    hashes, or the names where a row has no hash (a model passed in memory)."""
    frame = df.copy()
    for column, default in LEGACY_DEFAULTS.items():
        if column not in frame.columns:
            frame[column] = default
    if "image_sha256" not in frame.columns:
        frame["image_sha256"] = ""
    if "image_key" not in frame.columns:
        frame["image_key"] = _hash_or_name(frame, "image_sha256", "image")
    if "checkpoint_key" not in frame.columns:
        frame["checkpoint_key"] = _hash_or_name(frame, "checkpoint_sha256", "checkpoint")
    return frame


def _hash_or_name(frame: pd.DataFrame, hash_column: str, name_column: str) -> pd.Series:
    names = "name:" + frame[name_column].astype(str)
    if hash_column not in frame.columns:
        return names
    hashes = frame[hash_column].fillna("").astype(str)
    return hashes.where(hashes != "", names)


def check_one_setting(frame: pd.DataFrame) -> None:
    """Refuse frames that mix crop settings or compute dtypes: their cells answer different questions."""
    for column, what in (("dtype", "compute dtype"), ("crop", "crop setting")):
        values = list(dict.fromkeys(frame[column].astype(str)))
        if len(values) > 1:
            runs = "; ".join(
                f"{value}: {', '.join(dict.fromkeys(frame.loc[frame[column].astype(str) == value, 'run_id']))}"
                for value in values
            )
            raise ValueError(f"these rows mix {what}s ({runs}); report runs with one {what} together")


def unique_cells(df: pd.DataFrame) -> Cells:
    """One row per cell: agreeing copies collapse to one, disagreeing ones are listed in ``conflicts``."""
    frame = with_identity(df).reset_index(drop=True)
    frame, renamed = _one_name_per_checkpoint(frame)
    keys = list(IDENTITY)
    sizes = frame.groupby(keys, sort=False, dropna=False)["seed"].transform("size")
    single, repeated = frame[sizes == 1], frame[sizes > 1]
    if repeated.empty:
        return Cells(frame=frame, collapsed=0, conflicts=_empty(_CONFLICT_COLUMNS), renamed=renamed)
    groups = repeated.groupby(keys, sort=False, dropna=False)
    conflicting = pd.Series(False, index=repeated.index)
    conflict_rows = []
    for metric in metric_columns(frame):
        low, high = groups[metric].transform("min"), groups[metric].transform("max")
        scale = np.maximum(low.abs(), high.abs())
        differ = (high - low) > AGREE_ATOL + AGREE_RTOL * scale  # NaN (not measured) never differs
        conflicting |= differ
        conflict_rows.append(_conflicts_of(repeated[differ], metric))
    agreeing = repeated[~conflicting]
    merged = agreeing.groupby(keys, sort=False, dropna=False).first().reset_index()  # first non-missing value
    kept = pd.concat([single, merged[frame.columns]], ignore_index=True) if len(merged) else single
    conflicts = pd.concat(conflict_rows, ignore_index=True) if conflict_rows else _empty(_CONFLICT_COLUMNS)
    return Cells(
        frame=kept.reset_index(drop=True),
        collapsed=len(agreeing) - len(merged),
        conflicts=conflicts,
        renamed=renamed,
    )


def _conflicts_of(rows: pd.DataFrame, metric: str) -> pd.DataFrame:
    if rows.empty:
        return _empty(_CONFLICT_COLUMNS)
    out = []
    for _, cell in rows.groupby(list(IDENTITY), sort=False, dropna=False):
        first = cell.iloc[0]
        out.append(
            {
                "image": first["image"],
                "image_sha256": first.get("image_sha256", ""),
                "image_key": first["image_key"],
                "checkpoint": first["checkpoint"],
                "mask": first["mask"],
                "mask_ratio": first["mask_ratio"],
                "seed": first["seed"],
                "runs": " ".join(dict.fromkeys(cell["run_id"].astype(str))) if "run_id" in cell else "",
                "metric": metric,
                "values": " ".join(repr(float(v)) for v in cell[metric]),
            }
        )
    return pd.DataFrame(out, columns=list(_CONFLICT_COLUMNS))


def _one_name_per_checkpoint(frame: pd.DataFrame) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """A checkpoint (by content) is shown under the first name it had; a name used for two different files gets
    the file's hash prefix, so two checkpoints never merge by name."""
    pairs = frame[["checkpoint_key", "checkpoint"]].drop_duplicates()
    first_name = pairs.drop_duplicates("checkpoint_key").set_index("checkpoint_key")["checkpoint"]
    keys_per_name = first_name.reset_index().groupby("checkpoint")["checkpoint_key"].nunique()
    labels = {}
    for key, name in first_name.items():
        labels[key] = f"{name}@{str(key)[:8]}" if keys_per_name[name] > 1 else name
    notes = tuple(
        f"checkpoint {labels[row.checkpoint_key]!r} is named {row.checkpoint!r} in some rows"
        for row in pairs.itertuples()
        if labels[row.checkpoint_key] != row.checkpoint
    )
    frame = frame.copy()
    frame["checkpoint"] = frame["checkpoint_key"].map(labels)
    return frame, notes


def _empty(columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})


def planned_images(manifests: Sequence[Manifest], statuses: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The images the runs set out to measure (columns image, image_sha256, reason), the reason saying why one
    would hold no row: it could not be read, or its run (``statuses``: run id -> state, else the manifest's
    status) stopped before reaching it."""
    rows = []
    for manifest in manifests:
        errors = {failure.image: failure.reason for failure in manifest.errors}
        status = (statuses or {}).get(manifest.run_id, manifest.status)
        for image in manifest.images:
            if image.name in errors:
                reason = f"could not be read in run {manifest.run_id}: {errors[image.name]}"
            elif status != "finished":
                reason = f"no rows: run {manifest.run_id} is {status} and did not measure it"
            else:
                reason = f"no rows in run {manifest.run_id}"
            rows.append({"image": image.name, "image_sha256": image.sha256 or "", "reason": reason})
    return pd.DataFrame(rows, columns=["image", "image_sha256", "reason"])


def select(df: pd.DataFrame, *, allow_unbalanced: bool = False, planned: pd.DataFrame | None = None) -> Selection:
    """The cells of a report: unique, conflicts left out, and (unless ``allow_unbalanced``) only the images that
    hold every checkpoint x mask x ratio x seed cell of the selection. The images of ``planned``
    (:func:`planned_images`) that hold no row at all are left out with their reason, in either mode. ``ValueError``
    when nothing is left."""
    if df.empty:
        raise ValueError("no rows to analyse: the selected runs hold no results yet")
    cells = unique_cells(df)
    frame = cells.frame
    check_one_setting(frame)
    left_out = _unmeasured(frame, cells.conflicts, planned)
    if not allow_unbalanced:
        complete, incomplete = _complete_images(frame, cells.conflicts)
        parts = [part for part in (incomplete, left_out) if len(part)]
        left_out = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0] if parts else incomplete
        frame = frame[frame["image_key"].isin(complete)].reset_index(drop=True)
        if frame.empty:
            raise ValueError(
                f"no image has every cell of the selection ({_grid_text(cells.frame)}); "
                "rerun the missing cells (sweep --resume) or report with --allow-unbalanced"
            )
    elif cells.frame.empty:
        raise ValueError("no rows left: every cell has conflicting values across the runs")
    return Selection(
        frame=frame,
        collapsed=cells.collapsed,
        conflicts=cells.conflicts,
        left_out=left_out,
        balanced=not allow_unbalanced,
        images_used=images_per_ratio(frame),
        notes=cells.renamed,
    )


def _unmeasured(frame: pd.DataFrame, conflicts: pd.DataFrame, planned: pd.DataFrame | None) -> pd.DataFrame:
    """A left-out row for each planned image with no row at all (matched by content hash where the run recorded
    one, else by name), once per image."""
    if planned is None or planned.empty:
        return _empty(_LEFT_OUT_COLUMNS)
    names = set(frame["image"].astype(str)) | set(conflicts["image"].astype(str))
    hashes = (set(frame["image_sha256"].astype(str)) | set(conflicts["image_sha256"].astype(str))) - {""}
    absent = planned[~planned["image"].isin(names) & ~planned["image_sha256"].isin(hashes)]
    absent = absent.drop_duplicates("image")
    expected = int(np.prod([len(v) for v in _grid(pd.concat([frame, conflicts], ignore_index=True)).values()]))
    return pd.DataFrame(
        {
            "image": absent["image"],
            "image_sha256": absent["image_sha256"],
            "cells": 0,
            "expected": expected,
            "reason": absent["reason"],
        },
        columns=list(_LEFT_OUT_COLUMNS),
    ).reset_index(drop=True)


def _grid(frame: pd.DataFrame) -> dict[str, list]:
    return {column: list(dict.fromkeys(frame[column])) for column in GRID}


def _grid_text(frame: pd.DataFrame) -> str:
    grid = _grid(frame)
    return " x ".join(f"{len(values)} {column}s" for column, values in grid.items()).replace("mask_ratios", "ratios")


def _complete_images(frame: pd.DataFrame, conflicts: pd.DataFrame) -> tuple[set, pd.DataFrame]:
    """The images holding every grid cell, and a row per other image saying what it lacks."""
    known = pd.concat([frame, conflicts], ignore_index=True)  # a grid point may exist only in disputed cells
    grid = _grid(known)
    expected = int(np.prod([len(v) for v in grid.values()]))
    have = frame.groupby("image_key", sort=False).size()  # cells are unique per image and grid point here
    complete = set(have.index[have == expected])
    disputed = conflicts.drop_duplicates(["image_key", *GRID]).groupby("image_key", sort=False).size()
    names = known[["image_key", "image", "image_sha256"]].drop_duplicates("image_key")
    rows = []
    for image in names.itertuples(index=False):
        count = int(have.get(image.image_key, 0))
        if image.image_key in complete:
            continue
        reasons, disputed_cells = [], int(disputed.get(image.image_key, 0))
        if disputed_cells:
            reasons.append(f"{disputed_cells} cell(s) with conflicting values across runs")
        if expected - count > disputed_cells:
            reasons.append(_missing_text(known[known["image_key"] == image.image_key], grid))
        rows.append(
            {
                "image": image.image,
                "image_sha256": image.image_sha256,
                "cells": count,
                "expected": expected,
                "reason": "; ".join(reasons),
            }
        )
    return complete, pd.DataFrame(rows, columns=list(_LEFT_OUT_COLUMNS))


def _missing_text(rows: pd.DataFrame, grid: dict[str, list]) -> str:
    """``missing 3 of 24 cells, e.g. tiny-gan random 0.9 seed 2`` (the first two missing cells named)."""
    have = set(rows[list(GRID)].itertuples(index=False, name=None))
    missing = [cell for cell in product(*grid.values()) if cell not in have]
    examples = ", ".join(f"{c} {m} {float(r):g} seed {s}" for c, m, r, s in missing[:2])
    return f"missing {len(missing)} of {len(missing) + len(have)} cells, e.g. {examples}"


def images_per_ratio(frame: pd.DataFrame) -> pd.DataFrame:
    """Per mask x ratio: how many images a point is computed over, and which (a JSON list of names, sorted)."""
    rows = []
    for (mask, ratio), group in frame.groupby(["mask", "mask_ratio"], sort=True):
        names = sorted(dict.fromkeys(group["image"].astype(str)))
        rows.append({"mask": mask, "mask_ratio": float(ratio), "n_images": len(names), "images": json.dumps(names)})
    return pd.DataFrame(rows, columns=["mask", "mask_ratio", "n_images", "images"])
