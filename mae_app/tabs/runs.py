"""The Runs tab: the run store's runs, and the aggregated and paired analysis of the chosen ones."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gradio as gr

from mae_core.metrics import METRIC_NAMES

from ..formatting import metric_legend


@dataclass(frozen=True)
class RunsTab:
    refresh: gr.Button
    table: gr.Dataframe
    picked: gr.Dropdown
    metric: gr.Dropdown
    show: gr.Button
    summary: gr.Dataframe
    paired: gr.Dataframe
    note: gr.Markdown
    plot: gr.Plot
    csv: gr.File


def build() -> RunsTab:
    with gr.Tab("Runs", id="runs"):
        refresh = gr.Button("Refresh")
        table = gr.Dataframe(label="Runs in the store", interactive=False)
        with gr.Row():
            picked = gr.Dropdown(multiselect=True, label="Runs to analyse", scale=3)
            metric = gr.Dropdown(list(METRIC_NAMES), value="loss", label="Metric", scale=1)
            show = gr.Button("Analyse", variant="primary", scale=1)
        summary = gr.Dataframe(label="Aggregated", interactive=False)
        gr.Markdown(metric_legend(), elem_id="runs-metric-legend")
        paired = gr.Dataframe(
            label="Paired difference b - a over identical masks (b: the GAN-loss checkpoint, a: the pixel one)",
            interactive=False,
        )
        note = gr.Markdown()
        plot = gr.Plot(label="Metric vs mask ratio")
        csv = gr.File(label="CSV of the chosen runs")
    return RunsTab(refresh, table, picked, metric, show, summary, paired, note, plot, csv)


def wire(tab: RunsTab, list_runs: Callable, show_runs: Callable) -> None:
    tab.refresh.click(list_runs, outputs=[tab.table, tab.picked], api_visibility="private")
    tab.show.click(
        show_runs,
        [tab.picked, tab.metric],
        [tab.summary, tab.paired, tab.note, tab.plot, tab.csv],
        api_visibility="private",
    )
