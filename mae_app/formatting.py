"""Results -> what the app shows: tables rounded for reading, notes in Markdown. Pure functions, no I/O."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from experiments.manifest import Manifest
from experiments.selection import Selection
from experiments.sources import ImageFailure
from experiments.store import run_state
from mae_core.checkpoints.registry import CheckpointEntry, CheckpointStatus
from mae_core.evaluation.reconstruct import Reconstruction
from mae_core.options import CUSTOM_MASK, METRIC_INFO, OPTIONAL_METRICS

LOSS_NAMES = {"pixel": "pixel", "gan": "GAN"}  # a checkpoint's loss type as a row heading names it
SIGNIFICANT_DIGITS = 4  # every number a table of the app shows: enough to compare, short enough to read
RUN_COLUMNS = ("run_id", "status", "created", "checkpoints", "images", "mask_ratios", "seeds", "errors")


def selection_notes(selection: Selection) -> list[str]:
    """What the runs' analysis left out or merged, in Markdown sentences (empty when it used every row once)."""
    notes = []
    if selection.collapsed:
        notes.append(f"{selection.collapsed} duplicate row(s) of the same cells counted once.")
    if len(selection.conflicts):
        notes.append(f"{len(selection.conflicts)} cell(s) with different values in different runs were left out.")
    if len(selection.left_out):
        names = ", ".join(f"`{name}`" for name in selection.left_out["image"][:5])
        more = "" if len(selection.left_out) <= 5 else f" and {len(selection.left_out) - 5} more"
        notes.append(f"{len(selection.left_out)} image(s) without every cell were left out: {names}{more}.")
    return notes


def metrics_table(names: Sequence[str], results: Sequence[Reconstruction], loss_types: Sequence[str]) -> pd.DataFrame:
    """One row per checkpoint of a Compare: its loss type and every metric computed (optional ones only when they
    were, e.g. lpips with its weights present), rounded for reading."""
    optional = [n for n in OPTIONAL_METRICS if any(getattr(r.metrics, n) is not None for r in results)]
    rows = []
    for name, result, loss_type in zip(names, results, loss_types):
        m = result.metrics
        row = {"checkpoint": name, "loss_type": loss_type, "loss": m.loss, "mse": m.mse, "psnr_db": m.psnr}
        row.update({n: getattr(m, n) for n in optional})
        row["masked_patches"] = m.masked_patches
        rows.append(row)
    return rounded(pd.DataFrame(rows))


def significant(value: float, digits: int = SIGNIFICANT_DIGITS) -> float:
    """``value`` rounded to ``digits`` significant digits (NaN and infinities unchanged)."""
    return float(f"{value:.{digits}g}") if np.isfinite(value) else value


def rounded(frame: pd.DataFrame) -> pd.DataFrame:
    """Every float of a table rounded to :data:`SIGNIFICANT_DIGITS` significant digits, as every table of the app
    shows its numbers (whole numbers, text and missing values unchanged)."""
    out = frame.copy()
    for column in out.columns:
        out[column] = [significant(v) if isinstance(v, float) else v for v in out[column].tolist()]
        if pd.api.types.is_float_dtype(frame[column]):
            out[column] = out[column].astype(frame[column].dtype)
    return out


def metric_legend(names: Sequence[str] | None = None) -> str:
    """One line per metric of ``names`` (default: every metric), in Markdown: which direction is better and what it
    measures (shown under the tables)."""
    shown = METRIC_INFO if names is None else {name: METRIC_INFO[name] for name in names}
    lines = [f"- **{info.name}** ({info.better} is better): {info.explanation}" for info in shown.values()]
    return "\n".join(lines)


def compare_note(results: Sequence[Reconstruction], vmax: float, skipped: str | None = None) -> str:
    """Whether both rows share one mask, the heatmaps' common colour scale, and ``skipped`` (a metric left out and
    how to get it) when given."""
    a, b = results
    removed = int(a.mask.sum())
    if a.mask.shape == b.mask.shape and np.array_equal(a.mask, b.mask):
        how = "drawn" if a.strategy == CUSTOM_MASK else f"{a.strategy}, seed {a.seed}"
        same = f"Both rows use the same mask: {removed} of {a.mask.size} patches removed ({how})."
    else:
        same = (
            f"The checkpoints have different patch grids ({a.mask.shape[0]}x{a.mask.shape[1]} and "
            f"{b.mask.shape[0]}x{b.mask.shape[1]}), so their masks cannot be identical."
        )
    note = f"{same} Heatmap colours run from 0 to {vmax:.4g} MSE in both rows; grey patches were visible."
    return f"{note}\n\n_{skipped}_" if skipped else note


def norm_pix_note(names: Sequence[str], results: Sequence[Reconstruction]) -> str:
    """For each norm-pix row, how its prediction was de-normalised and what the oracle's leak is worth on this
    image (removed-patch MSE of both modes, [0, 1] RGB); empty for pixel checkpoints."""
    lines = []
    for name, result in zip(names, results):
        gap = result.norm_pix_gap
        if gap is None:
            continue
        how = (
            "honestly (statistics from the visible patches only)"
            if result.denorm == "honest"
            else ("with the oracle (each removed patch's true statistics: it leaks the answer)")
        )
        lines.append(
            f"{name} predicts norm-pix targets, de-normalised {how}. Removed-patch MSE: honest "
            f"{gap.honest_mse:.4g}, oracle {gap.oracle_mse:.4g}, gap {gap.gap:.4g}."
        )
    return "".join(f"\n\n{line}" for line in lines)


def row_label(row: str, checkpoint: str | None, loss_type: str | None) -> str:
    """A Compare row's heading: ``top: tiny-pixel, pixel loss`` (the loss type left out where unknown)."""
    if not checkpoint:
        return f"**{row}:** no checkpoint chosen"
    loss = f", {LOSS_NAMES.get(loss_type, loss_type)} loss" if loss_type and loss_type != "unknown" else ""
    return f"**{row}: {checkpoint}{loss}**"


def patch_list(indices: Sequence[int]) -> str:
    """Patch indices as the "removed patches" box shows them (and ``inputs.removed_patches`` reads them)."""
    return ", ".join(str(int(i)) for i in indices)


def drawn_note(removed: int, num_patches: int) -> str:
    return (
        f"The drawing hides {removed} of {num_patches} patches (ratio {removed / num_patches:.3f}); "
        "press Reconstruct to see both rows rebuild them."
    )


def errors_text(errors: Sequence[ImageFailure]) -> str:
    """A sweep's skipped images, on one line."""
    return "; ".join(str(err) for err in errors) or "no details"


def sweep_progress(run_id: str | None, done: int, total: int) -> str:
    """The Sweep tab's note while a study runs (renewed after every batch)."""
    run = f"Run **{run_id}**" if run_id else "Starting the sweep"
    percent = f" ({100 * done / total:.0f} %)" if total else ""
    return f"{run}: {done} of {total} reconstructions done{percent}. **Cancel** stops it after the current batch."


def cancel_note(run_id: str | None, rows: int, total: int, finished: bool) -> str:
    """A cancelled sweep: while its batch in flight ends (``finished`` False), then what it left behind: ``rows``
    of the ``total`` reconstructions it planned."""
    if run_id is None:
        return "Cancelled before the run started: nothing was stored."
    if not finished:
        return f"Cancelling: the sweep stops after the batch in flight ({rows} of {total} reconstructions done)."
    return (
        f"Cancelled after {rows} of {total} reconstructions: run **{run_id}** keeps them and is marked "
        "interrupted (the Runs tab lists it)."
    )


def empty_table(message: str) -> pd.DataFrame:
    """A table with nothing to show yet, as one line saying so (its only header): an empty ``gr.Dataframe`` would
    show gradio's placeholder headers "1 2 3" instead."""
    return pd.DataFrame(columns=[message])


# what each table says while it has nothing to show
EMPTY_COMPARE = "No numbers yet: pick an image and press Reconstruct."
EMPTY_SWEEP = "No summary yet: it appears here when the sweep finishes."
EMPTY_RUNS = "No runs yet: a sweep (the Sweep tab) adds one."
EMPTY_ANALYSIS = "Nothing analysed yet: pick runs and press Analyse."
EMPTY_PAIRED = "No paired difference: see the note below."
EMPTY_RANKING = "No ranking yet: analyse runs of two checkpoints."
EMPTY_UNRANKED = "Images not ranked: see the note below."
EMPTY_CELLS = "No image picked yet: pick one to see its cells."
EMPTY_REPLAY = "Nothing replayed yet: click a gallery picture or press Replay."
EMPTY_BREAKDOWN = "No breakdown ratio yet: pick an image and a threshold."


def runs_table(manifests: Sequence[Manifest]) -> pd.DataFrame:
    """One row per run manifest, in the given order (a one-line empty state when there is none)."""
    if not manifests:
        return empty_table(EMPTY_RUNS)
    return pd.DataFrame([run_row(m) for m in manifests], columns=list(RUN_COLUMNS))


def run_row(manifest: Manifest) -> dict:
    config = manifest.config
    checkpoints, images, ratios, seeds = (
        (config.checkpoints, config.images, config.ratios, config.seeds) if config is not None else ((),) * 4
    )
    return {
        "run_id": manifest.run_id,
        "status": run_state(manifest),  # "dead" when a running run's process is gone
        "created": manifest.created,
        "checkpoints": ", ".join(checkpoints),
        "images": len(manifest.images) or len(images),  # the images found (a folder or a list is one argument)
        "mask_ratios": ", ".join(f"{r:g}" for r in ratios),
        "seeds": len(seeds),
        "errors": len(manifest.errors),
    }


def checkpoint_row(entry: CheckpointEntry, status: CheckpointStatus, loaded: bool, show_paths: bool = True) -> dict:
    """A registry entry with where its file is and whether the app holds it in memory. ``show_paths=False`` (on a
    Space) names the place in cache terms (Hugging Face repo and file, torch hub file, bundled file), never a path
    of the server's file system."""
    if status.path is None:
        where = status.where
    else:
        where = str(status.path) if show_paths else status.place
    return {
        "name": entry.name,
        "status": status.state,
        "loss_type": entry.loss_type,
        "architecture": entry.architecture,
        "where": where,
        "size_mb": round(status.size / 1e6, 1) if status.size else None,
        "loaded": loaded,
        "licence": entry.licence,
        "description": entry.description,
    }


def checkpoints_note(missing: Sequence[str], offline: bool) -> str:
    if offline:
        return (
            "**Offline** (`HF_HUB_OFFLINE` or `MAE_OFFLINE` is set): nothing is downloaded. Fetch missing files "
            "on a connected machine with `python -m mae_core download NAME` and copy the caches over, or point "
            "an entry at a local file with `MAE_CHECKPOINTS_FILE`."
        )
    if not missing:
        return "Every checkpoint is on disk."
    return f"Not on disk: {', '.join(missing)}. Downloads go to the Hugging Face or torch hub cache."
