"""The Sweep tab: every mask strategy x ratio x seed for both checkpoints on a batch of images, saved to the run
store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gradio as gr

from mae_core.options import MASK_STRATEGIES, METRIC_NAMES

from ..formatting import EMPTY_SWEEP, empty_table, metric_legend
from .compare import CompareTab
from .runs import RunsTab


@dataclass(frozen=True)
class SweepTab:
    batch: gr.File
    ratio_min: gr.Number
    ratio_max: gr.Number
    ratio_step: gr.Number
    num_seeds: gr.Number
    first_seed: gr.Number
    metric: gr.Dropdown
    masks: gr.CheckboxGroup  # mask strategies, several at once: one line per checkpoint x strategy
    run: gr.Button
    cancel: gr.Button
    note: gr.Markdown
    plot: gr.Plot
    table: gr.Dataframe
    csv: gr.File


def build() -> SweepTab:
    with gr.Tab("Sweep", id="sweep"):
        gr.Markdown(
            "Every mask strategy x ratio x seed, for both checkpoints above, on the uploaded batch (or the Compare "
            "image). The study is saved to the run store."
        )
        with gr.Row():
            batch = gr.File(
                file_count="multiple", file_types=["image"], label="Images (optional batch)", elem_id="sweep-batch"
            )
            with gr.Column():
                with gr.Row():
                    ratio_min = gr.Number(0.1, label="First ratio", minimum=0.01, maximum=0.99)
                    ratio_max = gr.Number(0.9, label="Last ratio", minimum=0.01, maximum=0.99)
                    ratio_step = gr.Number(0.1, label="Step", minimum=0.01, maximum=0.98)
                with gr.Row():
                    num_seeds = gr.Number(3, precision=0, minimum=1, maximum=1000, label="Seeds")
                    first_seed = gr.Number(0, precision=0, minimum=0, label="First seed")
                    metric = gr.Dropdown(list(METRIC_NAMES), value="loss", label="Metric")
                masks = gr.CheckboxGroup(
                    list(MASK_STRATEGIES), value=["random"], label="Mask strategies", elem_id="sweep-masks"
                )
                with gr.Row():
                    run = gr.Button("Run sweep", variant="primary", elem_id="run-sweep")
                    cancel = gr.Button("Cancel", variant="stop", elem_id="cancel-sweep")
        note = gr.Markdown(label="note", elem_id="sweep-note")
        plot = gr.Plot(label="Metric vs mask ratio (mean, 95% band), one line per checkpoint x mask strategy")
        table = gr.Dataframe(
            empty_table(EMPTY_SWEEP), label="Per checkpoint and ratio", interactive=False, elem_id="sweep-table"
        )
        gr.Markdown(metric_legend(), elem_id="sweep-metric-legend")
        csv = gr.File(label="losses.csv", elem_id="sweep-csv")
    return SweepTab(
        batch,
        ratio_min,
        ratio_max,
        ratio_step,
        num_seeds,
        first_seed,
        metric,
        masks,
        run,
        cancel,
        note,
        plot,
        table,
        csv,
    )


def wire(
    tab: SweepTab, compare: CompareTab, runs: RunsTab, sweep: Callable, cancel_sweep: Callable, list_runs: Callable
) -> None:
    """The Run button is the named ``/sweep`` endpoint (images and checkpoints from the Compare tab), streaming a
    progress note per batch; Cancel stops it after the batch in flight, and it shows what it measured. Either way the
    Runs tab is refreshed."""
    inputs = [compare.image, tab.batch, compare.a, compare.b, tab.ratio_min, tab.ratio_max, tab.ratio_step]
    inputs += [tab.num_seeds, tab.first_seed, tab.metric, compare.crop, tab.masks]
    running = tab.run.click(
        sweep,
        inputs,
        [tab.plot, tab.table, tab.csv, tab.note],
        api_name="sweep",
        concurrency_id="long",  # one sweep or download at a time leaves a slot for Compare
        concurrency_limit=1,
    )
    running.then(list_runs, outputs=[runs.table, runs.picked], api_visibility="private")
    # the handler stops the work after its batch in flight; the sweep's stream then ends with the rows measured so
    # far (gradio's own `cancels` would end the stream before it could show them, as an error)
    tab.cancel.click(cancel_sweep, outputs=[tab.note], api_visibility="private")
