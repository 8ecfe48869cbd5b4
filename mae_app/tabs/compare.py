"""The Compare tab: one image, two checkpoints, the same mask; four panels and an error heatmap per row."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from mae_core.modeling.mask_strategies import CUSTOM_MASK, MASK_STRATEGIES
from mae_core.modeling.model import MAX_IMAGE_SIDE

from ..components import checked_image, link_row, mask_painter, result_panel, strategy_choice, wire_link
from ..inputs import RATIO_RANGE

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
    strategy: gr.Radio  # random / block / grid, or draw (value "custom")
    painter: gr.ImageEditor  # shown for draw: paint over the image as the top checkpoint sees it
    removed: gr.Textbox  # the drawn patch indices: filled from the painting, or typed; an input of /compare
    run: gr.Button
    panels: tuple[gr.Image, ...]  # 5 per row, top row first
    metrics: gr.Dataframe
    note: gr.Markdown
    copy_link: gr.Button
    link: gr.Textbox
    keep_aspect: gr.Checkbox  # beside the crop: reconstruct at the image's own aspect and size (up to 1024 px)

    @property
    def inputs(self) -> list:
        """What :meth:`MAEApp.compare` takes, in its order."""
        controls = [self.image, self.first, self.second, self.ratio, self.seed, self.crop, self.strategy]
        return [*controls, self.removed, self.keep_aspect]

    @property
    def outputs(self) -> list:
        """What :meth:`MAEApp.compare` fills in, in its order."""
        return [*self.panels, self.metrics, self.note]


def build(names: Sequence[str], examples: Sequence[Path], pair: tuple[str, str]) -> CompareTab:
    """Lay the tab out; ``names`` are the checkpoint choices (fixed here: API calls are checked against them) and
    ``pair`` the checkpoints shown first, which are also the API's defaults (see :mod:`mae_app.api_defaults`)."""
    with gr.Tab("Compare", id="compare"):
        with gr.Row():
            with gr.Column(scale=2):
                image = checked_image(
                    type="filepath",
                    sources=["upload", "clipboard", "webcam"],
                    label="Image (drop, paste or take one)",
                    height=300,
                    elem_id="input-image",
                )
                if examples:
                    gr.Examples([[str(p)] for p in examples], inputs=[image], label="Examples")
                painter = mask_painter(elem_id="mask-painter")
                removed = gr.Textbox(
                    "",
                    label="Removed patches (row-major indices; filled in as you paint, or type them and press Enter)",
                    visible=False,
                    elem_id="removed-patches",
                )
            with gr.Column(scale=1):
                # values are set again per page load (on_load): the pair may change while the server runs
                first = gr.Dropdown(list(names), value=pair[0], label="Checkpoint, top row", elem_id="checkpoint-top")
                second = gr.Dropdown(
                    list(names), value=pair[1], label="Checkpoint, bottom row", elem_id="checkpoint-bottom"
                )
                strategy = strategy_choice(
                    [*MASK_STRATEGIES, CUSTOM_MASK], value="random", label="Mask", elem_id="mask-strategy"
                )
                low, high = RATIO_RANGE
                ratio = gr.Slider(low, high, value=0.75, step=0.05, label="Mask ratio", elem_id="mask-ratio")
                with gr.Row():
                    seed = gr.Number(
                        0, precision=0, minimum=0, label="Seed (fixes the mask)", scale=2, elem_id="mask-seed"
                    )
                    new_seed = gr.Button("New seed", scale=1)
                with gr.Row():
                    crop = gr.Checkbox(False, label="Centre crop (instead of squashing to a square)", elem_id="crop")
                    keep_aspect = gr.Checkbox(
                        False,
                        label=f"Keep aspect (native size, up to {MAX_IMAGE_SIDE} px a side)",
                        elem_id="keep-aspect",
                    )
                run = gr.Button("Reconstruct", variant="primary", elem_id="run-compare")
        panels = _panel_rows()
        metrics = gr.Dataframe(label="Metrics on the removed patches", interactive=False, elem_id="metrics")
        note = gr.Markdown(elem_id="compare-note")
        copy_link, link = link_row("compare")
    return CompareTab(
        image,
        first,
        second,
        ratio,
        seed,
        new_seed,
        crop,
        strategy,
        painter,
        removed,
        run,
        panels,
        metrics,
        note,
        copy_link,
        link,
        keep_aspect,
    )


def _panel_rows() -> tuple[gr.Image, ...]:
    panels: list[gr.Image] = []
    for row in ROWS:
        gr.Markdown(f"**{row.capitalize()} row**")
        with gr.Row(equal_height=True):
            panels += [result_panel(label, f"{row}-{i}") for i, label in enumerate(PANEL_LABELS)]
    return tuple(panels)


def wire(
    tab: CompareTab,
    compare: Callable,
    new_seed: Callable,
    compare_link: Callable,
    canvas: Callable,
    preview: tuple[Callable, Callable],
) -> None:
    """The Reconstruct button is the named ``/compare`` endpoint; releasing the slider, entering a seed and the
    "New seed" button recompute privately. Choosing draw (or a new image, checkpoint or crop while drawing) resets
    the painter (``canvas``); each stroke, or Enter in the patch box after typing indices, shows what will be hidden
    in both rows' masked panels (``preview``: from the painting, from the typed indices)."""
    from_painting, from_indices = preview
    inputs, outputs = tab.inputs, tab.outputs
    tab.run.click(compare, inputs, outputs, api_name="compare")
    tab.ratio.release(compare, inputs, outputs, api_visibility="private")
    tab.seed.submit(compare, inputs, outputs, api_visibility="private")
    tab.new_seed.click(new_seed, outputs=[tab.seed], api_visibility="private").then(
        compare, inputs, outputs, api_visibility="private"
    )
    wire_link(tab.copy_link, tab.link, compare_link, inputs)
    canvas_outputs = [tab.painter, tab.removed, tab.ratio, tab.seed, tab.new_seed]
    for control in (tab.strategy, tab.image, tab.first, tab.crop):
        control.change(canvas, [tab.strategy, tab.image, tab.first, tab.crop], canvas_outputs, api_visibility="private")
    tab.painter.input(
        from_painting,
        [tab.painter, tab.image, tab.first, tab.second, tab.crop],
        [tab.removed, *tab.panels, tab.note],
        api_visibility="private",
    )
    tab.removed.submit(
        from_indices,
        [tab.removed, tab.image, tab.first, tab.second, tab.crop],
        [*tab.panels, tab.note],
        api_visibility="private",
    )
