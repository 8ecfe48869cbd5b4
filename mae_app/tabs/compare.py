"""The Compare tab: one image, two checkpoints, the same mask; four panels and an error heatmap per row."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from ..components import checked_image, result_panel

PANEL_LABELS = ("original", "masked", "reconstruction", "reconstruction + visible", "per-patch error")
ROWS = ("top", "bottom")


@dataclass(frozen=True)
class CompareTab:
    image: gr.Image
    first: gr.Dropdown  # checkpoint of the top row; the Sweep uses both dropdowns too
    second: gr.Dropdown
    ratio: gr.Slider
    seed: gr.Number
    new_seed: gr.Button
    crop: gr.Checkbox
    run: gr.Button
    panels: tuple[gr.Image, ...]  # 5 per row, top row first
    metrics: gr.Dataframe
    note: gr.Markdown


def build(names: Sequence[str], examples_dir: Path) -> CompareTab:
    """Lay the tab out; ``names`` are the checkpoint choices (fixed here: API calls are checked against them)."""
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
                examples = sorted(examples_dir.glob("*.jpg"))
                if examples:
                    gr.Examples([[str(p)] for p in examples], inputs=[image], label="Examples")
            with gr.Column(scale=1):
                # values are set per page load (on_load)
                first = gr.Dropdown(list(names), label="Checkpoint, top row", elem_id="checkpoint-top")
                second = gr.Dropdown(list(names), label="Checkpoint, bottom row", elem_id="checkpoint-bottom")
                ratio = gr.Slider(0.05, 0.95, value=0.75, step=0.05, label="Mask ratio", elem_id="mask-ratio")
                with gr.Row():
                    seed = gr.Number(0, precision=0, minimum=0, label="Seed (fixes the mask)", scale=2)
                    new_seed = gr.Button("New seed", scale=1)
                crop = gr.Checkbox(False, label="Centre crop (instead of squashing to a square)")
                run = gr.Button("Reconstruct", variant="primary", elem_id="run-compare")
        panels = _panel_rows()
        metrics = gr.Dataframe(label="Metrics on the removed patches", interactive=False, elem_id="metrics")
        note = gr.Markdown(elem_id="compare-note")
    return CompareTab(image, first, second, ratio, seed, new_seed, crop, run, panels, metrics, note)


def _panel_rows() -> tuple[gr.Image, ...]:
    panels: list[gr.Image] = []
    for row in ROWS:
        gr.Markdown(f"**{row.capitalize()} row**")
        with gr.Row(equal_height=True):
            panels += [result_panel(label, f"{row}-{i}") for i, label in enumerate(PANEL_LABELS)]
    return tuple(panels)


def wire(tab: CompareTab, compare: Callable, new_seed: Callable) -> None:
    """The Reconstruct button is the named ``/compare`` endpoint; releasing the slider, entering a seed and the
    "New seed" button recompute privately."""
    inputs = [tab.image, tab.first, tab.second, tab.ratio, tab.seed, tab.crop]
    outputs = [*tab.panels, tab.metrics, tab.note]
    tab.run.click(compare, inputs, outputs, api_name="compare")
    tab.ratio.release(compare, inputs, outputs, api_visibility="private")
    tab.seed.submit(compare, inputs, outputs, api_visibility="private")
    tab.new_seed.click(new_seed, outputs=[tab.seed], api_visibility="private").then(
        compare, inputs, outputs, api_visibility="private"
    )
