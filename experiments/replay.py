"""Re-rendering rows of a run: the same image, mask, ratio and checkpoints, computed the way the sweep computed them.

A row of a run is fully determined by the image's bytes, the seed, the mask ratio and strategy, the checkpoint and
how the engine ran (its compute dtype, crop). :func:`replay` finds the image again (:mod:`experiments.run_images`),
checks each checkpoint still has the sha256 the run recorded, and recomputes the cells twice:

- the numbers through :func:`mae_core.evaluation.engine.evaluate` with the run's dtype and crop, the path the sweep
  took, and the metrics the rows carry, so a float32 run's metrics come back within float rounding and a bfloat16 run's
  as the sweep computed them;
- the pictures through :func:`mae_core.evaluation.reconstruct.reconstruct` (float32), for the eye.

Both re-create the mask from the seed and strategy (:func:`mae_core.modeling.masking.mask_noise`); a row's
``mask_hash``, when recorded, must equal the re-created mask's. Each replayed cell carries the run's stored values
beside the recomputed ones.

A metric measured over all the run's seeds (``spread``, :data:`~mae_core.options.SEED_METRICS`) is not replayed:
one seed's cell does not determine it. :attr:`RunReplay.not_replayed` names the ones the rows carry, and the
comparison leaves them out (never a false difference).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath

import pandas as pd
import torch

from experiments.config import DEFAULT_MASKS, format_ratio
from experiments.manifest import Manifest
from experiments.run_images import RunImage, find_image
from experiments.store import Run, RunStore
from mae_core.evaluation.engine import EvalRecord, evaluate, select_device
from mae_core.evaluation.reconstruct import Reconstruction, reconstruct
from mae_core.modeling.masking import mask_hash
from mae_core.modeling.model import MaskedAutoencoderViT
from mae_core.options import MASK_STRATEGIES, METRIC_NAMES, OPTIONAL_METRICS, SEED_METRICS, check_strategy

ModelSource = Callable[[str], MaskedAutoencoderViT]
DEFAULT_MASK = DEFAULT_MASKS[0]  # the official random masking: the strategy of rows of store schema 1


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
        """The recomputed metrics, by name (those the engine computed)."""
        values = {name: getattr(self.record, name, None) for name in METRIC_NAMES}
        return {name: float(value) for name, value in values.items() if value is not None}

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
    not_replayed: tuple[str, ...] = ()  # metrics the rows carry that are measured over all the run's seeds: spread

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
    mask: str = DEFAULT_MASK,
    root: str | os.PathLike | None = None,
) -> RunReplay:
    """Replay image ``image`` of ``run`` (a :class:`Run` or a run id under ``root``) at ``seed`` under the ``mask``
    strategy (rows of a store schema 1 run, which records no strategy, load as ``random``).

    ``ratios`` (default: every ratio the run measured the image at with that strategy and seed) choose the cells;
    each must be in the run. The mask is re-created from the seed (``mae_core.modeling.masking.mask_noise``); when
    the rows record its ``mask_hash``, the re-created mask must hash the same. The metrics computed are those the rows
    carry. ``models(name)`` gives a checkpoint of the run by its name in the run.
    Raises :class:`ReplayError` (or :class:`experiments.run_images.ImageChangedError`) with a readable message."""
    run = RunStore(root).open(run) if isinstance(run, str) else run
    manifest = run.read_manifest()
    config = manifest.recorded_config()
    rows = image_rows(run, manifest, image)
    name = str(rows["image_name"].iloc[0])
    cells = _chosen_cells(rows, name, seed, ratios, _checked_mask(mask))
    record = next((i for i in manifest.images if i.name == name), None)
    sha256 = (record.sha256 if record else None) or str(rows["image_sha256"].iloc[0])  # a killed run: in its rows
    located = find_image(run, manifest, name, sha256)
    loaded = {checkpoint: _checked_model(models, checkpoint, manifest) for checkpoint in config.checkpoints}
    picture = located.load()
    crop = _row_crop(cells)
    grid = sorted(cells["mask_ratio"].unique())
    records = evaluate(
        loaded,
        [picture],
        grid,
        [seed],
        masks=[mask],
        metrics=_row_metrics(cells),
        dtype=config.dtype,
        crop=crop,
        device=_device(manifest.device),
    )
    by_key = {(r.model, format_ratio(r.mask_ratio)): r for r in records}
    replayed = []
    for ratio in grid:
        for checkpoint, model in loaded.items():
            stored = _stored_row(run.named(cells, checkpoint=checkpoint), ratio)
            panels = reconstruct(model, picture, float(ratio), seed, strategy=mask, crop=crop, metrics=())
            cell = ReplayCell(checkpoint, mask, float(ratio), seed, by_key[(checkpoint, format_ratio(ratio))], panels)
            replayed.append(_checked_cell(cell, stored, manifest.run_id))
    skipped = tuple(n for n in SEED_METRICS if n in cells.columns and cells[n].notna().any())
    return RunReplay(run.run_id, located, seed, config.dtype, crop, tuple(loaded), tuple(replayed), skipped)


def measured_masks(run: Run | str, image: str, seed: int, root: str | os.PathLike | None = None) -> tuple[str, ...]:
    """The mask strategies ``run`` measured ``image`` with at ``seed``, in :data:`MASK_STRATEGIES` order."""
    run = RunStore(root).open(run) if isinstance(run, str) else run
    rows = image_rows(run, run.read_manifest(), image)
    present = set(rows.loc[rows["seed"] == int(seed), "mask"])
    return tuple(m for m in MASK_STRATEGIES if m in present) + tuple(sorted(present - set(MASK_STRATEGIES)))


def image_rows(run: Run, manifest: Manifest, image: str) -> pd.DataFrame:
    """The rows of one image of ``run``, named exactly as in the run (or as its rows read) or, when that is
    unambiguous, by its file name; the image's name in the run is added as ``image_name``."""
    rows = run.read_rows()
    names = [record.name for record in manifest.images]
    names += [n for n in dict.fromkeys(rows["image"]) if n not in run.loaded_names(names)]
    cells = run.loaded_names(names)
    if image in names or image in cells:
        chosen = image if image in names else cells[image]
    else:
        matches = [n for n in names if PurePath(n).name == image]
        if len(matches) != 1:
            shown = ", ".join(names[:8]) + (" ..." if len(names) > 8 else "")
            why = "several images have that file name" if matches else "no such image"
            raise ReplayError(f"{why} in run {manifest.run_id}: {image!r}; its images: {shown or 'none'}")
        chosen = matches[0]
    picked = run.named(rows, image=chosen).copy()
    if picked.empty:
        raise ReplayError(f"run {manifest.run_id} holds no rows for image {chosen!r} (it may have failed)")
    picked["image_name"] = chosen
    return picked


def _chosen_cells(rows: pd.DataFrame, name: str, seed: int, ratios: Sequence[float] | None, mask: str) -> pd.DataFrame:
    chosen = rows[rows["seed"] == int(seed)]
    if chosen.empty:
        seeds = ", ".join(str(s) for s in sorted(rows["seed"].unique()))
        raise ReplayError(f"image {name!r} was not measured at seed {seed} in this run; its seeds: {seeds}")
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


def _checked_mask(mask: object) -> str:
    try:
        return check_strategy(mask)
    except ValueError as err:
        raise ReplayError(str(err)) from None


def _row_metrics(rows: pd.DataFrame) -> tuple[str, ...]:
    """The optional metrics the rows carry (a column with a value): what the replay computes."""
    return tuple(n for n in OPTIONAL_METRICS if n in rows.columns and rows[n].notna().any())


def _row_crop(rows: pd.DataFrame) -> bool:
    """Whether the rows' image was centre-cropped (the store fills runs of schema 1 from their config); a
    run's rows all share one value."""
    return bool(rows["crop"].iloc[0])


def _stored_row(rows: pd.DataFrame, ratio: float) -> pd.Series | None:
    """The row of ``rows`` (one checkpoint's) at ``ratio``, if the run has one."""
    match = rows[rows["mask_ratio"].map(format_ratio) == format_ratio(ratio)]
    return None if match.empty else match.iloc[0]


def _checked_cell(cell: ReplayCell, row: pd.Series | None, run_id: str) -> ReplayCell:
    """``cell`` with the run's values beside it, after checking that the numbers and the pictures re-created the
    row's mask: the engine's and the panels' masks hash the same, and equal the row's ``mask_hash`` when it has one."""
    drawn = mask_hash(torch.from_numpy(cell.reconstruction.mask))
    recorded = "" if row is None else str(row["mask_hash"])  # empty in store schema 1 runs
    if drawn != cell.record.mask_hash or (recorded and recorded != cell.record.mask_hash):
        raise ReplayError(
            f"the {cell.mask} mask of seed {cell.seed} at ratio {cell.mask_ratio:g} re-created for run {run_id} is "
            f"not the one its rows recorded (mask_hash {recorded or 'not recorded'}, re-created "
            f"{cell.record.mask_hash}, panels {drawn}): this version of mae_core masks differently"
        )
    if row is None:
        return cell
    per_cell = [name for name in METRIC_NAMES if name not in SEED_METRICS]  # what one seed's cell determines
    stored = {name: float(row[name]) for name in per_cell if name in row.index and pd.notna(row[name])}
    return dataclasses.replace(cell, stored=stored)


def _device(recorded: str | None):
    """The run's device when this machine has it (the same kernels), else the engine's choice."""
    try:
        return select_device(recorded) if recorded else None
    except ValueError:
        return None
