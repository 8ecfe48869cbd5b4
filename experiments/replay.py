"""Re-rendering rows of a run: the same image, mask, ratio and checkpoints, computed the way the sweep computed them.

A row of a run is fully determined by the image's bytes, the seed, the mask ratio and strategy, the checkpoint and
how the engine ran (its compute dtype, crop). :func:`replay` finds the image again (:mod:`experiments.run_images`),
checks each checkpoint still has the sha256 the run recorded, and recomputes the cells twice:

- the numbers through :func:`mae_core.engine.evaluate` with the run's dtype and crop, the path the sweep took, so a
  float32 run's metrics come back within float rounding and a bfloat16 run's as the sweep computed them;
- the pictures through :func:`mae_core.reconstruct.reconstruct` (float32), for the eye.

Each replayed cell carries the run's stored values beside the recomputed ones.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath

import pandas as pd

from experiments.config import format_ratio
from experiments.manifest import Manifest
from experiments.run_images import RunImage, locate_image
from experiments.store import Run, RunStore, neutralize
from mae_core.engine import EvalRecord, evaluate, select_device
from mae_core.metrics import METRIC_NAMES
from mae_core.model import MaskedAutoencoderViT
from mae_core.preprocess import load_image
from mae_core.reconstruct import Reconstruction, reconstruct

ModelSource = Callable[[str], MaskedAutoencoderViT]
DEFAULT_MASK = "random"  # rows written before runs recorded a strategy used the official random masking


class ReplayError(ValueError):
    """A row cannot be replayed as recorded; the message says why and what the run holds instead."""


@dataclass(frozen=True)
class ReplayCell:
    """One checkpoint on the replayed image at one mask strategy, ratio and seed."""

    checkpoint: str
    mask: str
    mask_ratio: float
    seed: int
    record: EvalRecord  # the engine's numbers, computed as the run computed them
    reconstruction: Reconstruction  # the panels (float32)
    stored: Mapping[str, float] = field(default_factory=dict)  # the run's values of this cell, by metric

    @property
    def metrics(self) -> dict[str, float]:
        """The recomputed metrics, by name (those the engine computes)."""
        return {name: float(getattr(self.record, name)) for name in METRIC_NAMES if hasattr(self.record, name)}

    def difference(self) -> float:
        """The largest |recomputed - stored| over the metrics both hold (NaN when they share none)."""
        gaps = [abs(value - self.stored[name]) for name, value in self.metrics.items() if name in self.stored]
        return max(gaps) if gaps else math.nan


@dataclass(frozen=True)
class RunReplay:
    """Cells of one image of a run, replayed; ``cells`` ordered by mask, ratio, then the run's checkpoint order."""

    run_id: str
    image: RunImage
    seed: int
    dtype: str
    crop: bool
    checkpoints: tuple[str, ...]
    cells: tuple[ReplayCell, ...]

    def cell(self, checkpoint: str, mask_ratio: float, mask: str = DEFAULT_MASK) -> ReplayCell:
        for cell in self.cells:
            key = (cell.checkpoint, format_ratio(cell.mask_ratio), cell.mask)
            if key == (checkpoint, format_ratio(mask_ratio), mask):
                return cell
        raise KeyError((checkpoint, mask_ratio, mask))


def replay(
    run: Run | str,
    image: str,
    *,
    seed: int,
    models: ModelSource,
    ratios: Sequence[float] | None = None,
    mask: str | None = None,
    root: str | os.PathLike | None = None,
) -> RunReplay:
    """Replay image ``image`` of ``run`` (a :class:`Run` or a run id under ``root``) at ``seed``.

    ``ratios`` (default: every ratio the run measured the image at) and ``mask`` (default: every strategy) choose
    the cells; each must be in the run. ``models(name)`` gives a checkpoint of the run by its name in the run.
    Raises :class:`ReplayError` (or :class:`experiments.run_images.ImageChangedError`) with a readable message."""
    run = RunStore(root).open(run) if isinstance(run, str) else run
    manifest = run.read_manifest()
    config = manifest.recorded_config()
    rows = image_rows(run.read_rows(), manifest, image)
    name = str(rows["image_name"].iloc[0])
    cells = _chosen_cells(rows, name, seed, ratios, mask)
    record = next((i for i in manifest.images if i.name == name), None)
    sha256 = (record.sha256 if record else None) or str(rows["image_sha256"].iloc[0])  # a killed run: in its rows
    located = locate_image(run, name, record.path if record else None, sha256)
    loaded = {checkpoint: _checked_model(models, checkpoint, manifest) for checkpoint in config.checkpoints}
    picture = load_image(located.path)
    device = _device(manifest.device)
    replayed = []
    for cell_mask, group in cells.groupby("mask", sort=True):
        grid = sorted(group["mask_ratio"].unique())
        records = evaluate(
            loaded, [picture], grid, [seed], masks=[cell_mask], dtype=config.dtype, crop=config.crop, device=device
        )
        by_key = {(r.model, format_ratio(r.mask_ratio)): r for r in records}
        for ratio in grid:
            for checkpoint, model in loaded.items():
                stored = _stored_values(group, checkpoint, ratio)
                picture_cell = reconstruct(model, picture, float(ratio), seed, strategy=cell_mask, crop=config.crop)
                record = by_key[(checkpoint, format_ratio(ratio))]
                replayed.append(ReplayCell(checkpoint, cell_mask, float(ratio), seed, record, picture_cell, stored))
    return RunReplay(run.run_id, located, seed, config.dtype, config.crop, tuple(loaded), tuple(replayed))


def image_rows(rows: pd.DataFrame, manifest: Manifest, image: str) -> pd.DataFrame:
    """The rows of one image, named exactly as in the run (or as its CSV cell reads) or, when that is unambiguous,
    by its file name; the image's name in the run is added as ``image_name``."""
    names = [record.name for record in manifest.images]
    names += [n for n in dict.fromkeys(rows["image"]) if n not in {neutralize(m) for m in names}]
    cells = {neutralize(n): n for n in names}
    if image in names or image in cells:
        chosen = image if image in names else cells[image]
    else:
        matches = [n for n in names if PurePath(n).name == image]
        if len(matches) != 1:
            shown = ", ".join(names[:8]) + (" ..." if len(names) > 8 else "")
            why = "several images have that file name" if matches else "no such image"
            raise ReplayError(f"{why} in run {manifest.run_id}: {image!r}; its images: {shown or 'none'}")
        chosen = matches[0]
    picked = rows[rows["image"] == neutralize(chosen)].copy()
    if picked.empty:
        raise ReplayError(f"run {manifest.run_id} holds no rows for image {chosen!r} (it may have failed)")
    picked["image_name"] = chosen
    if "mask" not in picked.columns:
        picked["mask"] = DEFAULT_MASK
    picked["mask"] = picked["mask"].replace("", DEFAULT_MASK)
    return picked


def _chosen_cells(
    rows: pd.DataFrame, name: str, seed: int, ratios: Sequence[float] | None, mask: str | None
) -> pd.DataFrame:
    chosen = rows[rows["seed"] == int(seed)]
    if chosen.empty:
        seeds = ", ".join(str(s) for s in sorted(rows["seed"].unique()))
        raise ReplayError(f"image {name!r} was not measured at seed {seed} in this run; its seeds: {seeds}")
    if mask is not None:
        if mask not in set(chosen["mask"]):
            masks = ", ".join(sorted(set(chosen["mask"])))
            raise ReplayError(f"image {name!r} was not measured with the {mask!r} mask in this run; masks: {masks}")
        chosen = chosen[chosen["mask"] == mask]
    if ratios is not None:
        wanted = {format_ratio(r) for r in ratios}
        present = {format_ratio(r) for r in chosen["mask_ratio"]}
        missing = sorted(wanted - present)
        if missing:
            shown = ", ".join(sorted(present, key=float))
            raise ReplayError(
                f"image {name!r} was not measured at mask ratio {', '.join(missing)} (seed {seed}) in this run; "
                f"its ratios: {shown}"
            )
        chosen = chosen[chosen["mask_ratio"].map(format_ratio).isin(wanted)]
    return chosen


def _checked_model(models: ModelSource, name: str, manifest: Manifest) -> MaskedAutoencoderViT:
    """The run's checkpoint ``name``, refused when its file no longer has the sha256 the run recorded."""
    model = models(name)
    recorded = next((c.sha256 for c in manifest.checkpoints if c.name == name), None)
    info = getattr(model, "checkpoint_info", None)  # None for a model built in memory: nothing to check
    current = info.sha256 if info is not None else None
    if recorded and current and recorded != current:
        raise ReplayError(
            f"checkpoint {name!r} changed since run {manifest.run_id} used it (sha256 {recorded[:12]}..., "
            f"now {current[:12]}...): its rows cannot be replayed with this file"
        )
    return model


def _stored_values(rows: pd.DataFrame, checkpoint: str, ratio: float) -> dict[str, float]:
    match = rows[
        (rows["checkpoint"] == neutralize(checkpoint)) & (rows["mask_ratio"].map(format_ratio) == format_ratio(ratio))
    ]
    if match.empty:
        return {}
    row = match.iloc[0]
    return {name: float(row[name]) for name in METRIC_NAMES if name in row.index and pd.notna(row[name])}


def _device(recorded: str | None):
    """The run's device when this machine has it (the same kernels), else the engine's choice."""
    try:
        return select_device(recorded) if recorded else None
    except ValueError:
        return None
