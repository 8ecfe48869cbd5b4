"""The app's state (the shared model cache, the run store root) and its handlers, one method per UI action.

Handlers are plain methods of their inputs, so tests call them without a browser; they check input through
``inputs``, compute through ``mae_core`` / ``experiments`` and shape results through ``formatting``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Sequence

import gradio as gr
import pandas as pd

from experiments.analysis import paired_difference, summarize
from experiments.figure import plot_metric
from experiments.selection import select
from experiments.store import Run, list_runs, load_runs
from experiments.sweep import SweepConfig, run_sweep
from mae_core.heatmap import error_heatmap, shared_vmax
from mae_core.model_cache import ModelCache
from mae_core.reconstruct import Reconstruction, reconstruct
from mae_core.registry import checkpoint_status, is_offline, registry

from . import formatting, inputs
from .exports import export_csv, served_folder
from .png_files import save_png

PANEL_FILES = ("original", "masked", "reconstruction", "reconstruction_visible", "error_heatmap")


class MAEApp:
    """The app's state and its handlers.

    ``models`` maps a checkpoint name to a loaded model; ``choices`` are the names offered in the UI and
    ``default_pair`` returns ``(first, second, note)`` for a new page. Tests pass small random models here.
    """

    def __init__(
        self,
        models: ModelCache,
        *,
        choices: Callable[[], Sequence[str]],
        default_pair: Callable[[], tuple[str, str, str]],
        run_root: str | os.PathLike | None = None,
        download: Callable[[str], object] | None = None,
    ) -> None:
        self.models = models
        self.choices = choices
        self.default_pair = default_pair
        self.run_root = run_root
        self.download = download
        self.notes: list[Callable[[], str]] = []  # extra status lines (e.g. a Space's background download)

    # ---- page load ----
    def on_load(self) -> tuple[dict, dict, str]:
        """Checkpoint dropdowns and the status note for a new visitor: the pair may have changed since start-up
        (a background download finished), so it is decided per page, not once."""
        names = list(self.choices())
        first, second, note = self.default_pair()
        lines = [f"**Checkpoints:** {first} (top) vs {second} (bottom), {note}."]
        lines += [f"_{extra()}_" for extra in self.notes]
        return (
            gr.update(choices=names, value=first),
            gr.update(choices=names, value=second),
            "\n\n".join(lines),
        )

    # ---- Compare ----
    @staticmethod
    def new_seed() -> int:
        """A fresh random seed (the UI's "new seed" button); any seed reproduces its mask exactly later."""
        return secrets.randbelow(inputs.SEED_LIMIT)

    def compare(
        self,
        image: str | None,
        first: str,
        second: str,
        mask_ratio: float,
        seed: float,
        crop: bool = False,
    ) -> tuple:
        """Reconstruct ``image`` with both checkpoints under the same mask.

        Returns, in order: the four panels and the error heatmap of ``first`` (5 PNG file paths), the same for
        ``second``, the metrics table and a note in Markdown.
        """
        picture = inputs.read_image(image)
        seed_value = inputs.whole_seed(seed)
        results = []
        for name in (first, second):
            model = self._model(name)
            try:
                results.append(reconstruct(model, picture, float(mask_ratio), seed_value, crop=bool(crop)))
            except ValueError as err:  # mask ratio out of range for this model's patch grid, bad image...
                raise inputs.user_error(err) from None
        vmax = shared_vmax([r.patch_error for r in results], [r.mask for r in results])
        outputs = [path for result in results for path in _panel_files(result, vmax)]
        loss_types = [self._loss_type(name) for name in (first, second)]
        table = formatting.metrics_table((first, second), results, loss_types)
        return (*outputs, table, formatting.compare_note(results, vmax))

    def _model(self, name: str):
        if not name:
            raise gr.Error("Choose a checkpoint for both rows.")
        try:
            return self.models.get(name)
        except (ValueError, OSError, RuntimeError) as err:  # unknown name, missing weights, offline, bad file
            raise gr.Error(f"Could not load checkpoint {name!r}: {err}", title="Checkpoint unavailable") from None

    def _loss_type(self, name: str) -> str:
        info = self.models.get(name).checkpoint_info
        return info.loss_type if info else "unknown"

    # ---- Sweep ----
    def sweep(
        self,
        image: str | None,
        batch: Sequence[str] | None,
        first: str,
        second: str,
        ratio_min: float,
        ratio_max: float,
        ratio_step: float,
        num_seeds: float,
        first_seed: float,
        metric: str,
        crop: bool = False,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 - gradio finds its progress bar by this default
    ) -> tuple:
        """Sweep mask ratios x seeds for the uploaded batch (else the Compare image) with both checkpoints, into
        the run store. Returns the plot, the summary table, the run's CSV path and a Markdown note with the id."""
        images = inputs.sweep_images(image, batch)
        ratios = inputs.ratio_grid(ratio_min, ratio_max, ratio_step)
        seeds = inputs.seed_list(first_seed, num_seeds)
        names = inputs.distinct_checkpoints((first, second))
        metric = inputs.metric_name(metric)
        inputs.check_sweep_size(len(images) * len(ratios) * len(seeds) * len(names))
        models = {name: self._model(name) for name in names}

        def report(done: int, total: int) -> None:
            progress(done / max(total, 1), desc=f"{done}/{total} reconstructions")

        try:
            config = SweepConfig(images=tuple(images), checkpoints=tuple(names), ratios=ratios, seeds=seeds, crop=crop)
            result = run_sweep(config, root=self.run_root, models=models, progress=report)
        except ValueError as err:  # no readable image among the files, bad ratio for a model's grid...
            raise inputs.user_error(err) from None
        frame = load_runs([result.run_id], self.run_root)
        if frame.empty:
            raise gr.Error(f"Run {result.run_id} produced no rows: {formatting.errors_text(result.errors)}")
        csv_path = Run(result.run_dir).losses_path
        note = f"Run **{result.run_id}** ({result.status}): {len(frame)} rows, stored in `{result.run_dir}`."
        if result.errors:
            note += f"\n\nSkipped: {formatting.errors_text(result.errors)}"
        return plot_metric(frame, metric), formatting.rounded(summarize(frame, metric)), str(csv_path), note

    # ---- Runs ----
    def list_runs(self) -> tuple[pd.DataFrame, dict]:
        """The runs table (newest first) and the run picker's choices."""
        manifests = list(reversed(list_runs(self.run_root)))
        ids = [m["run_id"] for m in manifests]
        # the newest run is picked for analysis
        return formatting.runs_table(manifests), gr.update(choices=ids, value=ids[:1])

    def show_runs(self, run_ids: Sequence[str] | None, metric: str) -> tuple:
        """Aggregated table, paired-difference table (or a note why there is none), plot, CSV of the chosen runs."""
        if not run_ids:
            raise gr.Error("Pick at least one run.")
        try:
            loaded = load_runs(list(run_ids), self.run_root)
            selection = select(loaded)  # as the CLI report: unique cells, only images measured everywhere
            frame = selection.frame
            summary = summarize(frame, metric)
        except ValueError as err:
            raise inputs.user_error(err) from None
        notes = formatting.selection_notes(selection)
        try:
            paired = formatting.rounded(paired_difference(frame, metric))
        except ValueError as err:  # one checkpoint only, or no shared masks
            paired, notes = pd.DataFrame(), [f"No paired difference: {err}", *notes]
        csv_path = export_csv(loaded, run_ids)
        plot = plot_metric(frame, metric)
        return formatting.rounded(summary), paired, "\n\n".join(notes), plot, str(csv_path)

    # ---- Checkpoints ----
    def checkpoints(self) -> tuple[pd.DataFrame, dict, dict, str]:
        """Registry table with each entry's status, the download picker and button, and a note.

        Offline (``HF_HUB_OFFLINE`` / ``MAE_OFFLINE``), the picker and button are hidden and the note says how to
        bring files in by hand."""
        rows, missing = [], []
        for entry in registry().values():
            status = checkpoint_status(entry)
            if status.state == "missing":
                missing.append(entry.name)
            rows.append(formatting.checkpoint_row(entry, status, loaded=entry.name in self.models))
        offline = is_offline()
        can_download = bool(missing) and not offline and self.download is not None
        return (
            pd.DataFrame(rows),
            gr.update(choices=missing, value=missing[0] if missing else None, visible=can_download),
            gr.update(visible=can_download),
            formatting.checkpoints_note(missing, offline),
        )

    def download_checkpoint(self, name: str | None) -> tuple[pd.DataFrame, dict, dict, str]:
        """Fetch one missing checkpoint into its cache, then the refreshed panel."""
        if not name:
            raise gr.Error("Choose a checkpoint to download.")
        if self.download is None:
            raise gr.Error("Downloads are not available in this app.")
        try:
            self.download(name)
        except (ValueError, OSError, RuntimeError) as err:  # offline, unknown name, network, checksum mismatch
            raise gr.Error(f"Could not download {name}: {err}", title="Download failed") from None
        table, picker, button, note = self.checkpoints()
        return table, picker, button, f"Downloaded {name}. {note}"


def _panel_files(result: Reconstruction, vmax: float) -> list[str]:
    """The four panels and the error heatmap of one reconstruction, as PNG file paths in gradio's cache.

    PNG files, not arrays: gradio rewrites an array's cache file in place, racing with concurrent downloads."""
    heatmap = error_heatmap(result.patch_error, result.mask, result.original.shape[:2], vmax=vmax)
    panels = (result.original, result.masked, result.reconstruction, result.reconstruction_visible, heatmap)
    folder = served_folder("mae-panels")
    return [str(save_png(panel, folder, name)) for panel, name in zip(panels, PANEL_FILES)]
