"""Sweep handlers: a study run in a background thread into the run store, its progress, its cancel button."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import gradio as gr

from experiments.config import SweepConfig
from experiments.store import Run, load_runs
from experiments.sweep import run_sweep
from mae_core.evaluation.metrics import default_metrics
from mae_core.options import SEED_METRICS

from .. import formatting, inputs, space
from ..background import Cancelled, Job
from ..uploads import stage_uploads
from .base import AppState, RunningSweep, session_key
from .study import study_outputs, visitor_csv


class SweepHandlers(AppState):
    """The Sweep tab: one running sweep per page, cancellable from that page."""

    def sweep(  # every parameter has a default: the API lists image and batch as optional (None: not given)
        self,
        image: str | None = None,
        batch: Sequence[str] | None = None,
        first: str | None = None,  # checkpoint a; ``first`` / ``second`` are the /sweep API's parameter names
        second: str | None = None,  # checkpoint b
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
        """Sweep mask strategies x ratios x seeds for the uploaded batch (else the Compare
        image) with both checkpoints, into the run store. Yields a progress note after every batch, then the plot
        (one line per checkpoint x strategy), the summary table, the run's CSV path and a Markdown note with the
        run id. :meth:`cancel_sweep` (or closing this generator: a cancelled event) stops it at the end of the
        batch in flight, the run marked interrupted."""
        ratios = inputs.ratio_grid(ratio_min, ratio_max, ratio_step)
        seeds = inputs.seed_list(first_seed, num_seeds)
        strategies = inputs.sweep_strategies(masks)
        metric = inputs.metric_name(metric)
        # the default metrics, and spread (over each cell's seeds) when it is the one to show
        metrics = (*default_metrics(), metric) if metric in SEED_METRICS else None
        config = sweep_config(image, batch, (first, second), ratios, seeds, bool(crop), strategies, metrics)
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
        csv_path = visitor_csv(frame, Run(result.run_dir))
        return study_outputs(frame, metric, csv_path, note, " ".join(result.notes))

    def _cancelled_outputs(self, run: Run | None, total: int, metric: str) -> tuple:
        """What a cancelled sweep measured: the plot, summary and CSV of its rows so far, and "cancelled after N of
        M" (nothing but the note when it stopped before its first row)."""
        if run is None:
            return None, None, None, formatting.cancel_note(None, 0, total, True)
        frame = load_runs([run.run_id], self.run_root)
        note = formatting.cancel_note(run.run_id, len(frame), total, True)
        if frame.empty:
            return None, None, None, note
        return study_outputs(frame, metric, visitor_csv(frame, run), note)

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


def sweep_config(
    image: str | None,
    batch: Sequence[str] | None,
    names: Sequence[str],
    ratios: tuple,
    seeds: tuple,
    crop: bool,
    strategies: tuple[str, ...] = ("random",),
    metrics: tuple[str, ...] | None = None,
) -> SweepConfig:
    """The checked study; bad input (or too big a study for the app) is a ``gr.Error``. The images are the uploads
    under their file names (:func:`stage_uploads`), and the run keeps a copy of each: uploads vanish from the server
    after a while, and the run must still replay. ``metrics``: the optional metrics to compute (None: the default
    set)."""
    images = inputs.sweep_images(image, batch)
    checkpoints = inputs.distinct_checkpoints(names)
    inputs.check_sweep_size(len(images) * len(strategies) * len(ratios) * len(seeds) * len(checkpoints))
    try:
        return SweepConfig(
            images=(str(stage_uploads(images)),),
            checkpoints=tuple(checkpoints),
            ratios=ratios,
            seeds=seeds,
            crop=crop,
            masks=strategies,
            metrics=metrics,
            keep_images=True,
        )
    except ValueError as err:
        raise inputs.user_error(err) from None
