"""MAE Inspect, the Gradio app: compare what a pixel-loss and a GAN-loss MAE rebuild from the same visible patches,
run small mask-ratio studies into the run store, browse past runs and manage checkpoints.

A thin wiring layer: every computation lives in ``mae_core`` and ``experiments``. Handlers are methods of
:class:`MAEApp` and plain functions of their inputs, so tests call them without a browser; :func:`build_demo` lays
out the UI and connects them. ``python app.py`` serves on 127.0.0.1:7860 (``GRADIO_SERVER_NAME`` /
``GRADIO_SERVER_PORT`` change that).
"""

from __future__ import annotations

import os

# before gradio is imported: it reads the variable at import time. A user's explicit setting wins.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import secrets
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd
from gradio.utils import get_upload_folder
from PIL import Image, UnidentifiedImageError

import hf_space
from mae_core.heatmap import error_heatmap, shared_vmax
from mae_core.model_cache import ModelCache
from mae_core.preprocess import MAX_IMAGE_BYTES, ImageError, load_image
from mae_core.reconstruct import Reconstruction, reconstruct
from png_files import save_png

APP_DIR = Path(__file__).resolve().parent
EXAMPLES_DIR = APP_DIR / "examples"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
CONCURRENCY = 2  # events computed at once; more would only split the same CPU cores
QUEUE_SIZE = 64  # waiting events beyond this are refused with a "queue full" message
MAX_UPLOAD_BYTES = MAX_IMAGE_BYTES
MAX_SWEEP_CELLS = 2000  # images x ratios x seeds x checkpoints one UI sweep may ask for
SPACE_PREFETCH = "vit-large-gan"  # fetched at start-up on a Space (the pixel model comes via preload_from_hub)
SEED_LIMIT = 2**31  # new seeds are drawn below this so they stay exact in JSON and in the browser
METRICS = ("loss", "mse", "psnr")
PANEL_LABELS = ("original", "masked", "reconstruction", "reconstruction + visible", "per-patch error")
PANEL_HEIGHT = 220  # CSS pixels; small models' 32-64 px panels are scaled up, blocky on purpose (see CSS)
# panels are shown with hard pixel edges: a smoothed upscale would blur the patch boundaries the viewer compares
CSS = ".mae-panel img { width: 100%; height: 100%; object-fit: contain; image-rendering: pixelated; }"
PANEL_FILES = ("original", "masked", "reconstruction", "reconstruction_visible", "error_heatmap")


def checked_image(**kwargs) -> gr.Image:
    """A ``gr.Image`` input whose upload step turns unreadable files into a friendly ``gr.Error``.

    Gradio opens every uploaded image with Pillow before the handler runs; a text file or a decompression bomb
    would otherwise fail there with a bare "Error". The instance's ``preprocess`` is wrapped rather than the class
    subclassed: gradio writes a ``.pyi`` stub beside the source of every component subclass. (Gradio rebuilds a
    component from its class when an event returns ``gr.update`` for it; no event here updates this input.)
    """
    component = gr.Image(**kwargs)
    stock_preprocess = component.preprocess

    def preprocess(payload):
        try:
            return stock_preprocess(payload)
        except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError):
            raise gr.Error(_unreadable_reason(payload), title="Unusable image") from None

    component.preprocess = preprocess
    return component


def _unreadable_reason(payload) -> str:
    """Why Pillow could not open an upload, in the engine's words (it checks the header before decoding)."""
    path = getattr(payload, "path", None)
    if path:
        try:
            load_image(path)
        except ImageError as err:
            return str(err)
    return "This file is not an image that can be read (PNG, JPEG, WebP, BMP, TIFF, GIF...)."


def user_error(err: Exception) -> gr.Error:
    """An exception raised by the engine for bad input, as a message box in the browser."""
    return gr.Error(str(err), title="Cannot do that")


class MAEApp:
    """The app's state (the shared model cache, the run store root) and its handlers.

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
        return secrets.randbelow(SEED_LIMIT)

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
        picture = _read_image(image)
        seed_value = _check_seed(seed)
        results = []
        for name in (first, second):
            model = self._model(name)
            try:
                results.append(reconstruct(model, picture, float(mask_ratio), seed_value, crop=bool(crop)))
            except ValueError as err:  # mask ratio out of range for this model's patch grid, bad image...
                raise user_error(err) from None
        vmax = shared_vmax([r.patch_error for r in results], [r.mask for r in results])
        # PNG files, not arrays: gradio rewrites an array's cache file in place, racing with concurrent downloads
        folder = Path(get_upload_folder()) / "mae-panels"
        outputs: list[str] = []
        for result in results:
            heatmap = error_heatmap(result.patch_error, result.mask, result.original.shape[:2], vmax=vmax)
            panels = (result.original, result.masked, result.reconstruction, result.reconstruction_visible, heatmap)
            outputs += [str(save_png(panel, folder, PANEL_FILES[i])) for i, panel in enumerate(panels)]
        table = _metrics_table((first, second), results, self.models)
        return (*outputs, table, _compare_note(results, vmax))

    def _model(self, name: str):
        if not name:
            raise gr.Error("Choose a checkpoint for both rows.")
        try:
            return self.models.get(name)
        except (ValueError, OSError, RuntimeError) as err:  # unknown name, missing weights, offline, bad file
            raise gr.Error(f"Could not load checkpoint {name!r}: {err}", title="Checkpoint unavailable") from None

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
        from experiments.analysis import check_metric, plot_metric, summarize
        from experiments.images import LIST_SUFFIXES
        from experiments.store import Run, load_runs
        from experiments.sweep import SweepConfig, run_sweep

        images = [str(p) for p in (batch or []) if p] or ([image] if image else [])
        if not images:
            raise gr.Error("Upload images for the sweep, or put one in the Compare tab.")
        lists = [Path(p).name for p in images if Path(p).suffix.lower() in LIST_SUFFIXES]
        if lists:  # a path list would make the server read files of its own choosing
            raise gr.Error(f"Upload the images themselves, not lists of paths: {', '.join(lists)}")
        ratios = ratio_grid(ratio_min, ratio_max, ratio_step)
        seeds = seed_list(first_seed, num_seeds)
        names = _distinct((first, second))
        try:
            check_metric(metric)
        except ValueError as err:
            raise user_error(err) from None
        cells = len(images) * len(ratios) * len(seeds) * len(names)
        if cells > MAX_SWEEP_CELLS:
            raise gr.Error(
                f"This sweep asks for {cells} reconstructions; the app runs at most {MAX_SWEEP_CELLS}. "
                "Use fewer ratios, seeds or images, or run `python -m experiments sweep` from a terminal."
            )
        models = {name: self._model(name) for name in names}

        def report(done: int, total: int) -> None:
            progress(done / max(total, 1), desc=f"{done}/{total} reconstructions")

        try:
            config = SweepConfig(images=tuple(images), checkpoints=tuple(names), ratios=ratios, seeds=seeds, crop=crop)
            result = run_sweep(config, root=self.run_root, models=models, progress=report)
        except ValueError as err:  # no readable image among the files, bad ratio for a model's grid...
            raise user_error(err) from None
        frame = load_runs([result.run_id], self.run_root)
        if frame.empty:
            raise gr.Error(f"Run {result.run_id} produced no rows: {_errors_text(result.errors)}")
        csv_path = Run(result.run_dir).losses_path
        note = f"Run **{result.run_id}** ({result.status}): {len(frame)} rows, stored in `{result.run_dir}`."
        if result.errors:
            note += f"\n\nSkipped: {_errors_text(result.errors)}"
        return plot_metric(frame, metric), _rounded(summarize(frame, metric)), str(csv_path), note

    # ---- Runs ----
    def list_runs(self) -> tuple[pd.DataFrame, dict]:
        """The runs table (newest first) and the run picker's choices."""
        from experiments.store import list_runs

        manifests = list(reversed(list_runs(self.run_root)))
        table = pd.DataFrame([_run_row(m) for m in manifests], columns=list(RUN_COLUMNS))
        ids = [m["run_id"] for m in manifests]
        return table, gr.update(choices=ids, value=ids[:1])  # the newest run is picked for analysis

    def show_runs(self, run_ids: Sequence[str] | None, metric: str) -> tuple:
        """Aggregated table, paired-difference table (or a note why there is none), plot, CSV of the chosen runs."""
        from experiments.analysis import paired_difference, plot_metric, summarize
        from experiments.store import load_runs

        if not run_ids:
            raise gr.Error("Pick at least one run.")
        try:
            frame = load_runs(list(run_ids), self.run_root)
            summary = summarize(frame, metric)
        except ValueError as err:
            raise user_error(err) from None
        try:
            paired = _rounded(paired_difference(frame, metric))
            paired_note = ""
        except ValueError as err:  # one checkpoint only, or no shared masks
            paired, paired_note = pd.DataFrame(), f"No paired difference: {err}"
        csv_path = _export_csv(frame, run_ids)
        return _rounded(summary), paired, paired_note, plot_metric(frame, metric), str(csv_path)

    # ---- Checkpoints ----
    def checkpoints(self) -> tuple[pd.DataFrame, dict, dict, str]:
        """Registry table with each entry's status, the download picker and button, and a note.

        Offline (``HF_HUB_OFFLINE`` / ``MAE_OFFLINE``), the picker and button are hidden and the note says how to
        bring files in by hand."""
        from mae_core.registry import checkpoint_status, is_offline, registry

        rows, missing = [], []
        for entry in registry().values():
            status = checkpoint_status(entry)
            if status.state == "missing":
                missing.append(entry.name)
            rows.append(
                {
                    "name": entry.name,
                    "status": status.state,
                    "loss_type": entry.loss_type,
                    "architecture": entry.architecture,
                    "where": str(status.path) if status.path else status.where,
                    "size_mb": round(status.size / 1e6, 1) if status.size else None,
                    "loaded": entry.name in self.models,
                    "licence": entry.licence,
                    "description": entry.description,
                }
            )
        offline = is_offline()
        can_download = bool(missing) and not offline and self.download is not None
        if offline:
            note = (
                "**Offline** (`HF_HUB_OFFLINE` or `MAE_OFFLINE` is set): nothing is downloaded. Fetch missing files "
                "on a connected machine with `python -m mae_core download NAME` and copy the caches over, or point "
                "an entry at a local file with `MAE_CHECKPOINTS_FILE`."
            )
        elif not missing:
            note = "Every checkpoint is on disk."
        else:
            note = f"Not on disk: {', '.join(missing)}. Downloads go to the Hugging Face or torch hub cache."
        return (
            pd.DataFrame(rows),
            gr.update(choices=missing, value=missing[0] if missing else None, visible=can_download),
            gr.update(visible=can_download),
            note,
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


def build_demo(app: MAEApp) -> gr.Blocks:
    """The UI: a status line, then the Compare, Sweep, Runs and Checkpoints tabs, wired to ``app``'s handlers."""
    gpu = hf_space.gpu_handler()
    # delete_cache: served files (panels, CSVs, uploads) older than two hours are removed every hour
    with gr.Blocks(title="MAE Inspect", delete_cache=(3600, 7200)) as demo:
        gr.Markdown(
            "# MAE Inspect\nMask an image, then see what a pixel-loss and a GAN-loss Masked Autoencoder rebuild "
            "from exactly the same visible patches."
        )
        pair_note = gr.Markdown(elem_id="pair-note")

        with gr.Tab("Compare"):
            with gr.Row():
                with gr.Column(scale=2):
                    image = checked_image(
                        type="filepath",
                        sources=["upload", "clipboard", "webcam"],
                        label="Image (drop, paste or take one)",
                        height=300,
                        elem_id="input-image",
                    )
                    examples = sorted(EXAMPLES_DIR.glob("*.jpg"))
                    if examples:
                        gr.Examples([[str(p)] for p in examples], inputs=[image], label="Examples")
                with gr.Column(scale=1):
                    # choices are fixed here (API calls are checked against them); values are set per page load
                    names = list(app.choices())
                    first = gr.Dropdown(names, label="Checkpoint, top row", elem_id="checkpoint-top")
                    second = gr.Dropdown(names, label="Checkpoint, bottom row", elem_id="checkpoint-bottom")
                    ratio = gr.Slider(0.05, 0.95, value=0.75, step=0.05, label="Mask ratio", elem_id="mask-ratio")
                    with gr.Row():
                        seed = gr.Number(0, precision=0, minimum=0, label="Seed (fixes the mask)", scale=2)
                        new_seed = gr.Button("New seed", scale=1)
                    crop = gr.Checkbox(False, label="Centre crop (instead of squashing to a square)")
                    run = gr.Button("Reconstruct", variant="primary", elem_id="run-compare")
            panels = []
            for row in ("top", "bottom"):
                gr.Markdown(f"**{row.capitalize()} row**")
                with gr.Row(equal_height=True):
                    panels += [
                        gr.Image(
                            label=label,
                            format="png",
                            interactive=False,
                            height=PANEL_HEIGHT,
                            buttons=["download", "fullscreen"],
                            elem_id=f"{row}-{i}",
                            elem_classes=["mae-panel"],
                        )
                        for i, label in enumerate(PANEL_LABELS)
                    ]
            metrics = gr.Dataframe(label="Metrics on the removed patches", interactive=False, elem_id="metrics")
            compare_note = gr.Markdown(elem_id="compare-note")

        with gr.Tab("Sweep"):
            gr.Markdown(
                "Every mask ratio x seed, for both checkpoints above, on the uploaded batch (or the Compare image). "
                "The study is saved to the run store."
            )
            with gr.Row():
                batch = gr.File(file_count="multiple", file_types=["image"], label="Images (optional batch)")
                with gr.Column():
                    with gr.Row():
                        ratio_min = gr.Number(0.1, label="First ratio", minimum=0.01, maximum=0.99)
                        ratio_max = gr.Number(0.9, label="Last ratio", minimum=0.01, maximum=0.99)
                        ratio_step = gr.Number(0.1, label="Step", minimum=0.01, maximum=0.98)
                    with gr.Row():
                        num_seeds = gr.Number(3, precision=0, minimum=1, maximum=1000, label="Seeds")
                        first_seed = gr.Number(0, precision=0, minimum=0, label="First seed")
                        sweep_metric = gr.Dropdown(list(METRICS), value="loss", label="Metric")
                    run_sweep = gr.Button("Run sweep", variant="primary")
            sweep_note = gr.Markdown()
            sweep_plot = gr.Plot(label="Metric vs mask ratio (mean, 95% band)")
            sweep_table = gr.Dataframe(label="Per checkpoint and ratio", interactive=False)
            sweep_csv = gr.File(label="losses.csv")

        with gr.Tab("Runs"):
            refresh = gr.Button("Refresh")
            runs_table = gr.Dataframe(label="Runs in the store", interactive=False)
            with gr.Row():
                picked = gr.Dropdown(multiselect=True, label="Runs to analyse", scale=3)
                runs_metric = gr.Dropdown(list(METRICS), value="loss", label="Metric", scale=1)
                show = gr.Button("Analyse", variant="primary", scale=1)
            runs_summary = gr.Dataframe(label="Aggregated", interactive=False)
            runs_paired = gr.Dataframe(
                label="Paired difference b - a over identical masks (b: the GAN-loss checkpoint, a: the pixel one)",
                interactive=False,
            )
            runs_note = gr.Markdown()
            runs_plot = gr.Plot(label="Metric vs mask ratio")
            runs_csv = gr.File(label="CSV of the chosen runs")

        with gr.Tab("Checkpoints"):
            ckpt_refresh = gr.Button("Refresh")
            ckpt_table = gr.Dataframe(label="Registry", interactive=False)
            ckpt_note = gr.Markdown()
            with gr.Row():
                ckpt_pick = gr.Dropdown(label="Checkpoint to download", visible=False)
                ckpt_download = gr.Button("Download", visible=False)

        demo.load(app.on_load, outputs=[first, second, pair_note], api_visibility="private")
        demo.load(app.checkpoints, outputs=[ckpt_table, ckpt_pick, ckpt_download, ckpt_note], api_visibility="private")
        demo.load(app.list_runs, outputs=[runs_table, picked], api_visibility="private")

        compare_inputs = [image, first, second, ratio, seed, crop]
        compare_outputs = [*panels, metrics, compare_note]
        compare = gpu(app.compare)
        run.click(compare, compare_inputs, compare_outputs, api_name="compare")
        ratio.release(compare, compare_inputs, compare_outputs, api_visibility="private")
        seed.submit(compare, compare_inputs, compare_outputs, api_visibility="private")
        new_seed.click(app.new_seed, outputs=[seed], api_visibility="private").then(
            compare, compare_inputs, compare_outputs, api_visibility="private"
        )

        sweep_inputs = [image, batch, first, second, ratio_min, ratio_max, ratio_step, num_seeds, first_seed]
        run_sweep.click(
            gpu(app.sweep),
            [*sweep_inputs, sweep_metric, crop],
            [sweep_plot, sweep_table, sweep_csv, sweep_note],
            api_name="sweep",
            concurrency_id="long",  # one sweep or download at a time leaves a slot for Compare
            concurrency_limit=1,
        ).then(app.list_runs, outputs=[runs_table, picked], api_visibility="private")

        refresh.click(app.list_runs, outputs=[runs_table, picked], api_visibility="private")
        show.click(
            app.show_runs,
            [picked, runs_metric],
            [runs_summary, runs_paired, runs_note, runs_plot, runs_csv],
            api_visibility="private",
        )
        ckpt_refresh.click(
            app.checkpoints, outputs=[ckpt_table, ckpt_pick, ckpt_download, ckpt_note], api_visibility="private"
        )
        ckpt_download.click(
            app.download_checkpoint,
            [ckpt_pick],
            [ckpt_table, ckpt_pick, ckpt_download, ckpt_note],
            api_visibility="private",
            concurrency_id="long",
            concurrency_limit=1,
        )
    return demo


# ---- pure helpers for the handlers (UI inputs -> engine arguments, results -> tables) ----
RUN_COLUMNS = ("run_id", "status", "created", "checkpoints", "images", "mask_ratios", "seeds", "errors")


def ratio_grid(low: float, high: float, step: float) -> tuple[float, ...]:
    """Mask ratios from ``low`` to ``high`` inclusive every ``step`` (the CLI's ``low:high:step``), as gr.Error."""
    try:
        low, high, step = float(low), float(high), float(step)
    except (TypeError, ValueError):
        raise gr.Error(f"ratios must be numbers, got {low!r}, {high!r}, step {step!r}") from None
    if not (0.0 < low <= high < 1.0):
        raise gr.Error(f"need 0 < first ratio <= last ratio < 1, got {low} and {high}")
    if step <= 0:
        raise gr.Error(f"the ratio step must be positive, got {step}")
    from experiments.sweep import ratio_range

    return ratio_range(low, high, step)


def seed_list(first: float, count: float) -> tuple[int, ...]:
    """``count`` consecutive seeds starting at ``first``."""
    start = _check_seed(first)
    if count is None or not float(count).is_integer() or not 1 <= count <= 1000:
        raise gr.Error(f"the number of seeds must be a whole number from 1 to 1000, got {count!r}")
    return tuple(range(start, start + int(count)))


def _check_seed(seed: float | None) -> int:
    if seed is None or not float(seed).is_integer() or not 0 <= seed < 2**63:
        raise gr.Error(f"the seed must be a whole number >= 0, got {seed!r}")
    return int(seed)


def _distinct(names: Sequence[str]) -> list[str]:
    if not all(names):
        raise gr.Error("Choose a checkpoint for both rows.")
    return list(dict.fromkeys(names))


def _read_image(path: str | None) -> Image.Image:
    if not path:
        raise gr.Error("Upload, paste or take a picture first (or click one of the examples).")
    try:
        return load_image(path)
    except ImageError as err:
        raise gr.Error(str(err), title="Unusable image") from None


def _metrics_table(names: Sequence[str], results: Sequence[Reconstruction], models: ModelCache) -> pd.DataFrame:
    rows = []
    for name, result in zip(names, results):
        info = getattr(models.get(name), "checkpoint_info", None)
        m = result.metrics
        rows.append(
            {
                "checkpoint": name,
                "loss_type": getattr(info, "loss_type", "unknown"),
                "loss": round(m.loss, 5),
                "mse": round(m.mse, 5),
                "psnr_db": round(m.psnr, 2),
                "masked_patches": m.masked_patches,
            }
        )
    return pd.DataFrame(rows)


def _compare_note(results: Sequence[Reconstruction], vmax: float) -> str:
    first, second = results
    removed = int(first.mask.sum())
    if first.mask.shape == second.mask.shape and np.array_equal(first.mask, second.mask):
        same = f"Both rows use the same mask: {removed} of {first.mask.size} patches removed (seed {first.seed})."
    else:
        same = (
            f"The checkpoints have different patch grids ({first.mask.shape[0]}x{first.mask.shape[1]} and "
            f"{second.mask.shape[0]}x{second.mask.shape[1]}), so their masks cannot be identical."
        )
    return f"{same} Heatmap colours run from 0 to {vmax:.4g} MSE in both rows; grey patches were visible."


def _rounded(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.round(6)


def _errors_text(errors: Sequence) -> str:
    parts = []
    for err in errors:
        if isinstance(err, dict):
            parts.append(f"{err.get('image', '')}: {err.get('reason', err)}")
        else:
            parts.append(str(err))
    return "; ".join(parts) or "no details"


def _run_row(manifest: dict) -> dict:
    config = manifest.get("config") or {}
    return {
        "run_id": manifest.get("run_id"),
        "status": manifest.get("status"),
        "created": manifest.get("created"),
        "checkpoints": ", ".join(config.get("checkpoints") or ()),
        "images": len(config.get("images") or ()),
        "mask_ratios": ", ".join(f"{r:g}" for r in config.get("ratios") or ()),
        "seeds": len(config.get("seeds") or ()),
        "errors": len(manifest.get("errors") or ()),
    }


def _export_csv(frame: pd.DataFrame, run_ids: Sequence[str]) -> Path:
    # a fresh folder in gradio's cache: served as it is, removed by delete_cache, never shared by two requests
    exports = Path(get_upload_folder()) / "mae-exports"
    exports.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=exports))
    name = run_ids[0] if len(run_ids) == 1 else f"{len(run_ids)}-runs"
    path = folder / f"losses-{name}.csv"
    frame.to_csv(path, index=False)
    return path


def default_app(run_root: str | os.PathLike | None = None) -> MAEApp:
    """The app over the real registry: models load on first use, on the best device, in float32."""
    import torch

    from mae_core.engine import select_device
    from mae_core.loading import download, load_model
    from mae_core.registry import default_pair, registry

    device = select_device()

    def load(name: str):
        return load_model(name, device=device, dtype=torch.float32)

    def pair() -> tuple[str, str, str]:
        chosen = default_pair()
        return chosen.pixel, chosen.gan, chosen.note

    return MAEApp(
        ModelCache(load),
        choices=lambda: list(registry()),
        default_pair=pair,
        run_root=run_root,
        download=download,
    )


def launch_options() -> dict:
    """``demo.launch`` keywords: host and port from the environment, upload cap, the run store served for CSVs."""
    from experiments.store import resolve_root

    return {
        "server_name": os.environ.get("GRADIO_SERVER_NAME") or DEFAULT_HOST,
        "server_port": int(os.environ.get("GRADIO_SERVER_PORT") or DEFAULT_PORT),
        "max_file_size": MAX_UPLOAD_BYTES,
        "allowed_paths": [str(resolve_root().resolve())],
        "css": CSS,
    }


def start_space_prefetch(app: MAEApp, download: Callable[[str], object]) -> hf_space.Prefetch | None:
    """On a Hugging Face Space, fetch the GAN checkpoint into the torch hub cache in the background and show how
    that goes in the page's status line. Elsewhere, nothing (downloads are the user's choice)."""
    if not hf_space.on_space():
        return None
    # the GAN weights exist only as a URL, so preload_from_hub cannot fetch them at build time
    prefetch = hf_space.start_prefetch(SPACE_PREFETCH, lambda: download(SPACE_PREFETCH))
    app.notes.append(prefetch.note)
    return prefetch


def main() -> None:
    from mae_core.loading import download

    app = default_app()
    start_space_prefetch(app, download)
    demo = build_demo(app)
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE)
    demo.launch(**launch_options())


if __name__ == "__main__":
    main()
