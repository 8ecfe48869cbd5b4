"""The Checkpoints tab: the registry with each entry's status, and a download button for missing ones."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gradio as gr


@dataclass(frozen=True)
class CheckpointsTab:
    refresh: gr.Button
    table: gr.Dataframe
    note: gr.Markdown
    pick: gr.Dropdown
    download: gr.Button

    @property
    def outputs(self) -> list:
        """What :meth:`MAEApp.checkpoints` fills in, in its order."""
        return [self.table, self.pick, self.download, self.note]


def build() -> CheckpointsTab:
    with gr.Tab("Checkpoints", id="checkpoints"):
        refresh = gr.Button("Refresh")
        table = gr.Dataframe(label="Registry", interactive=False)
        note = gr.Markdown()
        with gr.Row():
            # shown by the page load when something is missing and downloads are possible
            pick = gr.Dropdown(label="Checkpoint to download", visible=False)
            download = gr.Button("Download", visible=False)
    return CheckpointsTab(refresh, table, note, pick, download)


def wire(tab: CheckpointsTab, checkpoints: Callable, download_checkpoint: Callable) -> None:
    tab.refresh.click(checkpoints, outputs=tab.outputs, api_visibility="private")
    tab.download.click(
        download_checkpoint,
        [tab.pick],
        tab.outputs,
        api_visibility="private",
        concurrency_id="long",  # shares the one "long" slot with sweeps
        concurrency_limit=1,
    )
