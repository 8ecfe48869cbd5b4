"""The app's state (the shared model cache, the run store root) and its handlers, one method per UI action.

Handlers are plain methods of their inputs, so tests call them without a browser; they check input through
``inputs``, compute through ``mae_core`` / ``experiments`` and shape results through ``formatting``.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import gradio as gr
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from experiments.analysis import paired_difference, summarize
from experiments.config import SweepConfig
from experiments.selection import select
from experiments.store import Run, list_runs, load_runs
from experiments.sweep import run_sweep
from mae_core.checkpoints.model_cache import ModelCache
from mae_core.checkpoints.registry import checkpoint_status, is_offline, registry
from mae_core.evaluation.metrics import METRIC_NAMES, plan_metrics
from mae_core.evaluation.preprocess import preprocess, to_uint8
from mae_core.evaluation.reconstruct import NATIVE_SIZE, masked_preview, reconstruct
from mae_core.files import file_sha256
from mae_core.modeling.drawn_mask import patches_from_painting
from mae_core.modeling.mask_strategies import CUSTOM_MASK, MASK_STRATEGIES

from . import formatting, inputs, links, plots, space
from .availability import CheckpointAvailability
from .background import Cancelled, Job
from .drill import RunDrill
from .exports import export_csv
from .panels import PANEL_FILES, heatmap_scale, panel_files, served_png
from .uploads import stage_uploads
from .user_errors import log_refusal, message
from .visibility import RunVisibility

MASKED = PANEL_FILES.index("masked")
EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"


@dataclass(frozen=True)
class RunningSweep:
    """A page's sweep in progress: its job and, once it exists, its run (``run_sweep``'s ``on_start``)."""

    job: Job
    runs: list[Run]


def example_files(folder: str | os.PathLike | None) -> dict[str, Path]:
    """The example images offered under the Compare tab, by name (file stem), in name order."""
    if folder is None or not Path(folder).is_dir():
        return {}
    return {path.stem: path for path in sorted(Path(folder).glob("*.jpg"))}


class PageStart(NamedTuple):
    """What :meth:`MAEApp.on_load` sets on a new page, in the order of the load event's outputs."""

    image: str | None  # an example's file when the link names one
    first: dict  # checkpoint dropdown updates (choices and value)
    second: dict
    ratio: dict
    seed: dict
    crop: dict
    strategy: dict
    tabs: dict  # the tab to open
    note: str  # the status line, in Markdown
    linked: bool  # the link set up a Compare: the page runs it at once


class MAEApp:
    """The app's state and its handlers.

    ``models`` maps a checkpoint name to a loaded model; ``choices`` are the names offered in the UI and
    ``default_pair`` returns ``(first, second, note)`` for a new page; ``examples_dir`` holds the example images
    (``*.jpg``) that links name by file stem. Tests pass small random models here.
    """

    def __init__(
        self,
        models: ModelCache,
        *,
        choices: Callable[[], Sequence[str]],
        default_pair: Callable[[], tuple[str, str, str]],
        run_root: str | os.PathLike | None = None,
        download: Callable[[str], object] | None = None,
        examples_dir: str | os.PathLike | None = EXAMPLES_DIR,
    ) -> None:
        self.models = models
        self.choices = choices
        self.default_pair = default_pair
        self.run_root = run_root
        self.download = download
        self.examples: Mapping[str, Path] = example_files(examples_dir)
        self.notes: list[Callable[[], str]] = []  # extra status lines (e.g. a Space's background download)
        # called with (first, second) whenever the default pair changes (the API defaults follow it)
        self.pair_listeners: list[Callable[[str, str], object]] = []
        self._pair: tuple[str, str] | None = None
        self._pair_lock = threading.Lock()
        self._sweeps: dict[str, RunningSweep] = {}  # by the page's session
        self._sweeps_lock = threading.Lock()
        self.availability = CheckpointAvailability()  # on disk, downloadable, or neither: the dropdowns say which
        self.visibility = RunVisibility(self.examples)  # on a Space, upload runs are seen by their page only
        self.drill = RunDrill(self.model, run_root, self.check_runs)  # the Runs tab's drill-down and /replay

    # ---- page load ----
    def page_pair(self) -> tuple[str, str, str]:
        """The default pair now, as ``(first, second, note)``; listeners hear of every change. Called at start-up,
        on every page load and after every download: the pair a new page shows, decided when it is asked for."""
        first, second, note = self.default_pair()
        with self._pair_lock:
            changed, self._pair = self._pair != (first, second), (first, second)
            if changed:
                for listener in self.pair_listeners:
                    listener(first, second)
        return first, second, note

    def on_load(self, request: gr.Request | None = None) -> PageStart:
        """A new page: the Compare controls (the default pair, or what the page's link asks for), the tab to open,
        the status note, and whether the link names an example (the page then runs that Compare at once)."""
        names = self.checkpoint_choices()
        first, second, note = self.page_pair()
        link = self.page_link(request)
        view = link.compare
        lines = [f"**Checkpoints:** {first} (top) vs {second} (bottom), {note}."]
        lines += [f"_{extra()}_" for extra in self.notes]
        lines += [f"_Link: {problem}._" for problem in link.problems]
        return PageStart(
            # a plain value, not gr.update: an update would rebuild the checked image input without its checks
            str(self.examples[view.example]) if view.example else None,
            gr.update(choices=names, value=view.a or first),
            gr.update(choices=names, value=view.b or second),
            gr.update() if view.ratio is None else gr.update(value=view.ratio),
            gr.update() if view.seed is None else gr.update(value=view.seed),
            gr.update() if view.crop is None else gr.update(value=view.crop),
            gr.update() if view.mask is None else gr.update(value=view.mask),
            gr.update(selected=link.open_tab) if link.open_tab else gr.update(),
            space.for_visitor("\n\n".join(lines)),
            view.example is not None,
        )

    def checkpoint_choices(self) -> list[str | tuple[str, str]]:
        """The checkpoint dropdowns' choices: each name, labelled when it is not on disk (downloads on first use,
        or cannot be had now)."""
        return self.availability.choices(list(self.choices()))

    def page_link(self, request: gr.Request | None) -> links.PageLink:
        """What the page's query parameters ask for (nothing without a request: an API call)."""
        query = getattr(request, "query_params", None) or {}
        choices = links.LinkChoices(
            examples=list(self.examples),
            checkpoints=list(self.choices()),
            masks=list(MASK_STRATEGIES),
            metrics=list(METRIC_NAMES),
            ratio_range=inputs.RATIO_RANGE,
        )
        return links.parse_link(query, choices)

    def example_name(self, image: str | None) -> str | None:
        """The example an image file is (by content: gradio serves copies of examples), else None."""
        if not image or not Path(image).is_file():
            return None
        digest = file_sha256(image)
        return next((name for name, path in self.examples.items() if file_sha256(path) == digest), None)

    def compare_link(
        self,
        image: str | None,
        first: str,
        second: str,
        ratio: float,
        seed: float,
        crop: bool,
        strategy: str = "random",
        removed: str | None = "",
        native: bool = False,
    ) -> str:
        """The query string of the Compare tab's current view (the page prefixes its own address). Links carry
        seeded masks on the model's square input; a drawn mask or a kept aspect is refused with a message (links
        name examples and the settings listed in docs/app.md)."""
        strategy = inputs.compare_strategy(strategy)
        if strategy == CUSTOM_MASK:
            raise gr.Error("Links carry random, block or grid masks, not drawn ones: choose one of those to share.")
        if native:
            raise gr.Error("Links carry the square input, not a kept aspect: untick 'Keep aspect' to share.")
        view = links.CompareView(
            example=self.example_name(image),
            a=first or None,
            b=second or None,
            ratio=float(ratio),
            seed=inputs.whole_seed(seed),
            mask=strategy,
            crop=bool(crop),
        )
        return links.compare_query(view)

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
        strategy: str = "random",
        removed: str | None = "",
        native: bool = False,
    ) -> tuple:
        """Reconstruct ``image`` with both checkpoints under the same mask: a seeded ``strategy`` at ``mask_ratio``,
        or ``custom`` (``draw``) removing exactly the patch indices in ``removed`` (the ratio is then the drawn one).
        ``native``: keep the image's aspect and size (``reconstruct(size="native")``) instead of the model's square
        (``crop`` then has nothing to cut); drawn masks are drawn on the square, so they refuse it.

        Returns, in order: the four panels and the error heatmap of ``first`` (5 PNG file paths), the same for
        ``second``, the metrics table and a note in Markdown.
        """
        picture = inputs.read_image(image)
        seed_value, mask = inputs.compare_mask(seed, strategy, removed)
        if native and mask["strategy"] == CUSTOM_MASK:
            raise gr.Error("Drawn masks are drawn on the square input: untick 'Keep aspect' to draw one.")
        size = {"size": NATIVE_SIZE} if native else {}
        plan = plan_metrics()  # the default set: lpips only when its weights are here, else a note saying how
        results = []
        for name in (first, second):
            model = self.model(name)
            try:
                rec = reconstruct(
                    model, picture, float(mask_ratio), seed_value, crop=bool(crop), metrics=plan.names, **mask, **size
                )
                results.append(rec)
            except ValueError as err:  # mask ratio or drawn patches out of range for this model's grid...
                raise inputs.user_error(err) from None
        vmax = heatmap_scale(results)
        outputs = [path for result in results for path in panel_files(result, vmax)]
        loss_types = [self._loss_type(name) for name in (first, second)]
        table = formatting.metrics_table((first, second), results, loss_types)
        return (*outputs, table, formatting.compare_note(results, vmax, space.for_visitor(plan.note)))

    def drawing_canvas(self, strategy: str, image: str | None, first: str, crop: bool = False) -> tuple:
        """The Draw panel for the current image: the painter (the image as ``first`` sees it, nothing painted),
        the cleared "removed patches" box, and whether the seed and ratio controls apply (three updates). Seeded
        strategies hide the painter; no image yet leaves it empty."""
        drawing = strategy in (CUSTOM_MASK, inputs.DRAW)
        seeded = gr.update(visible=not drawing)
        if not drawing:
            return gr.update(visible=False), gr.update(visible=False), seeded, seeded, seeded
        canvas = None
        if image and first:
            config = self.model(first).config
            try:
                model_input = to_uint8(preprocess(inputs.read_image(image), config.img_size, crop=bool(crop)))
                canvas = {"background": model_input, "layers": [], "composite": None}
            except (gr.Error, ValueError):  # an unreadable image: the empty painter; previews and runs say why
                pass
        return gr.update(value=canvas, visible=True), gr.update(value="", visible=True), seeded, seeded, seeded

    def preview_drawing(
        self, painting: dict | None, image: str | None, first: str, second: str, crop: bool = False
    ) -> tuple:
        """What a drawing hides, before running: the removed patch indices on ``first``'s grid (half or more of a
        patch painted), both rows' panels with only the masked one filled in (the others wait for Reconstruct),
        and a note."""
        blank = [None] * 2 * len(PANEL_FILES)
        painted = inputs.painted_pixels(painting)
        if painted is None or not image:
            return "", *blank, "Upload an image, choose **draw**, then paint over what to hide."
        grid = self.model(first).config.grid_size
        removed = np.flatnonzero(patches_from_painting(painted, grid)).tolist()
        if not removed:
            return "", *blank, f"Nothing hidden yet: paint over at least half of a patch ({grid}x{grid} grid)."
        return formatting.patch_list(removed), *self._masked_previews(removed, image, first, second, crop)

    def preview_patches(
        self, removed: str | None, image: str | None, first: str, second: str, crop: bool = False
    ) -> tuple:
        """What typed patch indices hide, before running: both rows' panels with only the masked one filled in,
        and a note (as :meth:`preview_drawing` does for a painting)."""
        if not image:
            return *[None] * 2 * len(PANEL_FILES), "Upload an image, choose **draw**, then paint over what to hide."
        return self._masked_previews(inputs.removed_patches(removed), image, first, second, crop)

    def _masked_previews(self, removed: list[int], image: str, first: str, second: str, crop: bool) -> tuple:
        """Both rows' panels with only the masked one (``removed`` hidden on each checkpoint's input), and a note."""
        panels: list[str | None] = [None] * 2 * len(PANEL_FILES)
        picture = inputs.read_image(image)
        for row, name in enumerate((first, second)):
            config = self.model(name).config
            try:
                panel = masked_preview(
                    picture, removed, img_size=config.img_size, patch_size=config.patch_size, crop=bool(crop)
                )
            except ValueError as err:  # out of a checkpoint's grid, or every patch removed
                raise inputs.user_error(err) from None
            panels[row * len(PANEL_FILES) + MASKED] = served_png(panel, "masked")
        return *panels, formatting.drawn_note(len(removed), self.model(first).config.num_patches)

    def model(self, name: str):
        """A checkpoint by name from the shared cache, loaded on first use; ``gr.Error`` when it cannot be."""
        if not name:
            raise gr.Error("Choose a checkpoint for both rows.")
        refusal = None if name in self.models else self.availability.refusal(name)
        if refusal:  # at once: a load would wait for the network, then fail with the download library's error
            raise gr.Error(refusal, title="Checkpoint unavailable")
        try:
            return self.models.get(name)
        except (ValueError, OSError, RuntimeError) as err:  # unknown name, missing weights, offline, bad file
            message = space.for_visitor(f"Could not load checkpoint {name!r}: {err}")
            raise gr.Error(message, title="Checkpoint unavailable") from None

    def row_label(self, row: str, name: str | None) -> str:
        """The heading of a Compare row (``top`` / ``bottom``) for the checkpoint chosen there, with its loss type:
        the registry's, else the loaded file's (a checkpoint that cannot load is named without one)."""
        entry = registry().get(name) if name else None
        try:
            loss_type = entry.loss_type if entry is not None else (self._loss_type(name) if name else None)
        except (ValueError, OSError, RuntimeError):
            loss_type = None
        label = formatting.row_label(row, name, loss_type)
        refusal = self.availability.refusal(name) if name and name not in self.models else None
        return f"{label}  \n_{refusal}_" if refusal else label

    def _loss_type(self, name: str) -> str:
        info = self.models.get(name).checkpoint_info
        return info.loss_type if info else "unknown"

    # ---- Sweep ----
    def sweep(  # every parameter has a default: the API lists image and batch as optional (None: not given)
        self,
        image: str | None = None,
        batch: Sequence[str] | None = None,
        first: str | None = None,
        second: str | None = None,
        ratio_min: float | None = None,
        ratio_max: float | None = None,
        ratio_step: float | None = None,
        num_seeds: float | None = None,
        first_seed: float | None = None,
        metric: str | None = None,
        crop: bool = False,
        masks: Sequence[str] | None = ("random",),
        progress: gr.Progress = gr.Progress(),  # noqa: B008 - gradio finds its progress bar by this default
        request: gr.Request | None = None,
    ) -> Iterator[tuple]:
        """Sweep mask strategies x ratios x seeds for the uploaded batch (else the Compare image) with both
        checkpoints, into the run store. Yields a progress note after every batch, then the plot (one line per
        checkpoint x strategy), the summary table, the run's CSV path and a Markdown note with the run id.
        :meth:`cancel_sweep` (or closing this generator: a cancelled event) stops it at the end of the batch in
        flight, the run marked interrupted."""
        ratios = inputs.ratio_grid(ratio_min, ratio_max, ratio_step)
        seeds = inputs.seed_list(first_seed, num_seeds)
        strategies = inputs.sweep_strategies(masks)
        config = self._sweep_config(image, batch, (first, second), ratios, seeds, bool(crop), strategies)
        metric = inputs.metric_name(metric)
        models = {name: self.model(name) for name in config.checkpoints}  # after every check: loading is slow
        started: list[Run] = []
        key = session_key(request)

        def on_start(run: Run) -> None:
            self.visibility.claim(run.run_id, key)  # this page made it (private to it on a Space)
            started.append(run)

        job = Job(
            lambda report: run_sweep(config, root=self.run_root, models=models, progress=report, on_start=on_start),
            name="sweep",
        )
        with self._sweeps_lock:
            self._sweeps[key] = RunningSweep(job, started)
        try:
            job.start()
            for tick in job.ticks():
                progress(tick.done / max(tick.total, 1), desc=f"{tick.done}/{tick.total} reconstructions")
                run_id = started[0].run_id if started else None
                yield gr.skip(), gr.skip(), gr.skip(), formatting.sweep_progress(run_id, tick.done, tick.total)
        finally:
            job.cancel()  # a no-op once finished; stops the work when the page cancelled this event
            with self._sweeps_lock:
                if self._sweeps.get(key, None) is not None and self._sweeps[key].job is job:
                    del self._sweeps[key]
        yield self._sweep_outputs(job, metric, started)

    @staticmethod
    def _sweep_config(
        image: str | None,
        batch: Sequence[str] | None,
        names: Sequence[str],
        ratios: tuple,
        seeds: tuple,
        crop: bool,
        masks: tuple[str, ...] = ("random",),
    ) -> SweepConfig:
        """The checked study; bad input (or too big a study for the app) is a ``gr.Error``. The images are the
        uploads under their file names (:func:`stage_uploads`), and the run keeps a copy of each: uploads vanish
        from the server after a while, and the run must still replay."""
        images = inputs.sweep_images(image, batch)
        checkpoints = inputs.distinct_checkpoints(names)
        inputs.check_sweep_size(len(images) * len(masks) * len(ratios) * len(seeds) * len(checkpoints))
        try:
            return SweepConfig(
                images=(str(stage_uploads(images)),),
                checkpoints=tuple(checkpoints),
                ratios=ratios,
                seeds=seeds,
                crop=crop,
                masks=masks,
                keep_images=True,
            )
        except ValueError as err:
            raise inputs.user_error(err) from None

    def _sweep_outputs(self, job: Job, metric: str, started: Sequence[Run]) -> tuple:
        """The finished sweep's plot, summary, CSV and note; a cancelled one's as far as it got (not an error)."""
        try:
            result = job.result()
        except Cancelled:
            return self._cancelled_outputs(started[0] if started else None, job.last.total, metric)
        except ValueError as err:  # no readable image among the files, bad ratio for a model's grid...
            raise inputs.user_error(err) from None
        frame = load_runs([result.run_id], self.run_root)
        if frame.empty:
            skipped = space.for_visitor(formatting.errors_text(result.errors))
            raise gr.Error(f"Run {result.run_id} produced no rows: {skipped}")
        stored = "in the run store" if space.on_space() else f"in `{result.run_dir}`"
        note = f"Run **{result.run_id}** ({result.status}): {len(frame)} rows, stored {stored}."
        if result.errors:
            note += f"\n\nSkipped: {space.for_visitor(formatting.errors_text(result.errors))}"
        note += "".join(f"\n\n_{space.for_visitor(line)}_" for line in result.notes)  # a metric left out, and why
        csv_path = _visitor_csv(frame, Run(result.run_dir))
        return _study_outputs(frame, metric, csv_path, note, " ".join(result.notes))

    def _cancelled_outputs(self, run: Run | None, total: int, metric: str) -> tuple:
        """What a cancelled sweep measured: the plot, summary and CSV of its rows so far, and "cancelled after N of
        M" (nothing but the note when it stopped before its first row)."""
        if run is None:
            return None, None, None, formatting.cancel_note(None, 0, total, True)
        frame = load_runs([run.run_id], self.run_root)
        note = formatting.cancel_note(run.run_id, len(frame), total, True)
        if frame.empty:
            return None, None, None, note
        return _study_outputs(frame, metric, _visitor_csv(frame, run), note)

    def cancel_sweep(self, request: gr.Request | None = None) -> str:
        """Stop this page's running sweep at the end of its batch in flight; a note until the sweep's own outputs
        (its rows so far, "cancelled after N of M") replace it."""
        with self._sweeps_lock:
            running = self._sweeps.get(session_key(request))
        if running is None:
            return "No sweep of this page is running."
        running.job.cancel()
        run = running.runs[0] if running.runs else None
        rows = sum(run.cell_counts().values()) if run else 0
        return formatting.cancel_note(run.run_id if run else None, rows, running.job.last.total, False)

    # ---- Runs ----
    def list_runs(self, request: gr.Request | None = None) -> tuple[pd.DataFrame, dict]:
        """The runs table (newest first) and the run picker's choices: the runs this page may see."""
        manifests = self.visibility.runs(reversed(list_runs(self.run_root)), session_key(request))
        ids = [m.run_id for m in manifests]
        # the newest run is picked for analysis
        return formatting.runs_table(manifests), gr.update(choices=ids, value=ids[:1])

    def runs_on_load(self, request: gr.Request | None = None) -> tuple:
        """A new page's Runs tab: the runs table, the picker (the runs the page's link names that the store holds,
        else the newest run), the metric, and the link's Runs view for :meth:`open_linked_runs`."""
        table, picker = self.list_runs(request)
        link = self.page_link(request)
        view = link.runs
        if link.open_tab == "runs" and not view.runs:  # the page opens on the Runs tab: analyse the preselected run
            view = dataclasses.replace(view, runs=tuple(picker["value"]))
        linked = [run for run in view.runs if run in picker["choices"]]
        return (
            table,
            gr.update(choices=picker["choices"], value=linked or picker["value"]),
            gr.update() if view.metric is None else gr.update(value=view.metric),
            view,
        )

    def open_linked_runs(self, view: links.RunsView | None, metric: str, request: gr.Request | None = None) -> tuple:
        """What a page's link asks of the Runs tab, done: the chosen runs analysed and the named image picked (its
        gallery follows). Returns :meth:`show_runs`'s outputs then :meth:`RunDrill.ranking`'s; nothing (skips)
        when the link names no runs."""
        if view is None or view.empty or not view.runs:
            return tuple(gr.skip() for _ in range(8))
        known = set(self.list_runs(request)[1]["choices"])
        found = [run for run in view.runs if run in known]
        missing = [run for run in view.runs if run not in known]
        if not found:
            gone = f"The link's runs are not in this store: {', '.join(missing)}."
            return (*(gr.skip() for _ in range(2)), gone, *(gr.skip() for _ in range(5)))
        summary, paired, note, plot, csv_path = self.show_runs(found, metric, request)
        if missing:
            note = f"Not in this store (left out): {', '.join(missing)}.\n\n{note}"
        ranking, ranking_note, picker = self.drill.ranking(found, metric, view.image, request)
        if view.image and view.image not in picker["choices"]:  # named, as the link's other unusable values are
            unknown = f"_Link: image {view.image!r} is not in these runs; the top-ranked one is shown._"
            ranking_note = f"{unknown}\n\n{ranking_note}".strip()
        return (summary, paired, note, plot, csv_path, ranking, ranking_note, picker)

    def runs_tab_opened(
        self,
        analysed: bool,
        run_ids: Sequence[str] | None,
        metric: str,
        image: str | None,
        request: gr.Request | None = None,
    ) -> tuple:
        """The Runs tab opened: the preselected runs analysed and their images ranked, the first time only (then,
        and on a page whose link opens the Runs tab, which :meth:`open_linked_runs` analyses: skips).
        :meth:`show_runs`'s outputs, :meth:`RunDrill.ranking`'s, then whether it analysed."""
        link = self.page_link(request)
        if analysed or not run_ids or link.runs.runs or link.open_tab == "runs":
            return tuple(gr.skip() for _ in range(9))
        try:
            analysed = self.show_runs(run_ids, metric, request)
            return (*analysed, *self.drill.ranking(run_ids, metric, image, request), True)
        except gr.Error as err:  # e.g. a run without rows: said in the note; Analyse stays at hand
            log_refusal("runs_tab_opened", err)
            return (gr.skip(), gr.skip(), message(err), *(gr.skip() for _ in range(5)), True)

    def show_runs(self, run_ids: Sequence[str] | None, metric: str, request: gr.Request | None = None) -> tuple:
        """Aggregated table, paired-difference table (or a note why there is none), plot, CSV of the chosen runs."""
        if not run_ids:
            raise gr.Error("Pick at least one run.")
        self.check_runs(run_ids, request)
        try:
            loaded = load_runs(list(run_ids), self.run_root)
            selection = select(loaded)  # as the CLI report: unique cells, only images measured everywhere
            frame = selection.frame
            summary = summarize(frame, metric)
        except ValueError as err:
            raise inputs.user_error(err) from None
        notes = formatting.selection_notes(selection)
        paired, reason = paired_or_reason(frame, metric)
        if paired is None:
            notes = [f"No paired difference: {reason}", *notes]
        csv_path = export_csv(loaded, run_ids)
        plot = study_plot(frame, summary, metric, paired, reason)
        table = formatting.rounded(paired) if paired is not None else formatting.empty_table(formatting.EMPTY_PAIRED)
        return formatting.rounded(summary), table, "\n\n".join(notes), plot, str(csv_path)

    def check_runs(self, run_ids: Sequence[str], request: gr.Request | None = None) -> None:
        """``gr.Error`` when the page may not see one of the runs (on a Space: another page's upload run)."""
        self.visibility.check(run_ids, session_key(request), self.run_root)

    # ---- Checkpoints ----
    def checkpoints(self) -> tuple[pd.DataFrame, dict, dict, str]:
        """Registry table with each entry's status, the download picker and button, and a note.

        Offline (``HF_HUB_OFFLINE`` / ``MAE_OFFLINE``), the picker and button are hidden and the note says how to
        bring files in by hand."""
        rows, missing = [], []
        show_paths = not space.on_space()  # a Space's visitors see cache places, not the server's folders
        for entry in registry().values():
            status = checkpoint_status(entry)
            if status.state == "missing":
                missing.append(entry.name)
            rows.append(
                formatting.checkpoint_row(entry, status, loaded=entry.name in self.models, show_paths=show_paths)
            )
        offline = is_offline()
        can_download = bool(missing) and not offline and self.download is not None
        return (
            pd.DataFrame(rows),
            gr.update(choices=missing, value=missing[0] if missing else None, visible=can_download),
            gr.update(visible=can_download),
            space.for_visitor(formatting.checkpoints_note(missing, offline)),
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
            raise gr.Error(space.for_visitor(f"Could not download {name}: {err}"), title="Download failed") from None
        self.page_pair()  # the download may complete the ViT-L pair: the API defaults follow
        table, picker, button, note = self.checkpoints()
        return table, picker, button, f"Downloaded {name}. {note}"


def session_key(request: gr.Request | None) -> str:
    """The page a request comes from (each page load is a new session); "" for direct calls."""
    return str(getattr(request, "session_hash", None) or "")


def _visitor_csv(frame: pd.DataFrame, run: Run) -> Path:
    """The CSV a page offers for a run's rows: on a Space, where the run store is not served, a copy of them;
    elsewhere the run's own losses file."""
    return export_csv(frame, [run.run_id]) if space.on_space() else run.losses_path


def _study_outputs(frame: pd.DataFrame, metric: str, csv_path: Path, note: str, metric_hint: str = "") -> tuple:
    """A sweep's rows as the Sweep tab shows them: the plot, the rounded summary, the CSV path and ``note``."""
    try:
        summary = summarize(frame, metric)
    except ValueError as err:  # the metric chosen was not computed (lpips without its weights)
        raise inputs.user_error(ValueError(f"{err}. {metric_hint}".strip())) from None
    plot = study_plot(frame, summary, metric, *paired_or_reason(frame, metric))
    return plot, formatting.rounded(summary), str(csv_path), note


def paired_or_reason(frame: pd.DataFrame, metric: str) -> tuple[pd.DataFrame | None, str]:
    """The paired difference of some rows, or None and why there is none (one checkpoint, no shared masks)."""
    try:
        return paired_difference(frame, metric), ""
    except ValueError as err:
        return None, str(err)


def study_plot(
    frame: pd.DataFrame, summary: pd.DataFrame, metric: str, paired: pd.DataFrame | None, reason: str = ""
) -> go.Figure:
    """The interactive two-panel plot of some rows (see :mod:`mae_app.plots`)."""
    run_ids = list(dict.fromkeys(frame["run_id"])) if "run_id" in frame else []
    return plots.study_plot(summary, paired, metric=metric, run_ids=run_ids, no_pair_reason=reason)
