"""The Compare tab: one image, two checkpoints, the same mask; four panels and an error heatmap per row."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import gradio as gr

from mae_core.modeling.model import MAX_IMAGE_SIDE
from mae_core.options import CUSTOM_MASK, MASK_STRATEGIES, RECONSTRUCTION_METRICS

from .. import attention_view, uncertainty_view
from ..compare_page import ComparePage
from ..components import (
    FOLLOW_LATEST,
    checked_image,
    link_row,
    mask_painter,
    result_panel,
    strategy_choice,
    wire_link,
)
from ..formatting import EMPTY_COMPARE, empty_table, metric_legend
from ..inputs import RATIO_RANGE

PANEL_LABELS = ("original", "masked", "reconstruction", "reconstruction + visible", "per-patch error")
ROWS = ("top", "bottom")


@dataclass(frozen=True)
class CompareTab:
    image: gr.Image
    a: gr.Dropdown  # checkpoint a, shown in the top row; the Sweep uses both dropdowns too
    b: gr.Dropdown  # checkpoint b, the bottom row
    ratio: gr.Slider
    seed: gr.Number
    new_seed: gr.Button
    crop: gr.Checkbox
    strategy: gr.Radio  # random / block / grid, or draw (value "custom")
    painter: gr.ImageEditor  # shown for draw: paint over the image as the top checkpoint sees it
    removed: gr.Textbox  # the drawn patch indices: filled from the painting, or typed; an input of /compare
    stroke: gr.Number  # never shown: when the painting a stroke preview reads was taken (the browser's clock, ms)
    run: gr.Button  # the page's Reconstruct (errors go to the note); api_run is the /compare endpoint
    api_run: gr.Button  # never shown: /compare raises its errors to the caller
    panels: tuple[gr.Image, ...]  # 5 per row, top row first
    row_labels: tuple[gr.Markdown, gr.Markdown]  # each row's heading: its checkpoint and loss type
    metrics: gr.Dataframe
    note: gr.Markdown
    copy_link: gr.Button
    link: gr.Textbox
    keep_aspect: gr.Checkbox  # beside the crop: reconstruct at the image's own aspect and size (up to 1024 px)
    denorm: gr.Radio  # how a norm-pix checkpoint's prediction is put back into pixels: honest or oracle
    stale: gr.Markdown  # says so when the controls changed since the result on screen was made
    shown: gr.State  # the result on screen (compare_page.Shown), None before the first
    attention: attention_view.AttentionTab  # where each checkpoint looked (wired by attention_view.wire)
    uncertainty: uncertainty_view.UncertaintyTab  # spread over masks and b - a per patch (uncertainty_view.wire)

    @property
    def inputs(self) -> list:
        """What :meth:`MAEApp.compare` takes, in its order."""
        controls = [self.image, self.a, self.b, self.ratio, self.seed, self.crop, self.strategy]
        return [*controls, self.removed, self.keep_aspect, self.denorm]

    @property
    def square_inputs(self) -> list:
        """The inputs that set a mask on the model's square input (what the attention view reads): :attr:`inputs`
        up to the drawn patches."""
        return self.inputs[: self.inputs.index(self.removed) + 1]

    @property
    def outputs(self) -> list:
        """What :meth:`MAEApp.compare` fills in, in its order."""
        return [*self.panels, self.metrics, self.note]

    @property
    def page_inputs(self) -> list:
        """What the page's runs (:meth:`ComparePage.run`) take: the result shown, then :attr:`inputs`."""
        return [self.shown, *self.inputs]

    @property
    def page_outputs(self) -> list:
        return [*self.outputs, self.shown]


def build(
    names: Sequence[str | tuple[str, str]], examples: Sequence[Path], pair: tuple[str, str], row_labels: tuple[str, str]
) -> CompareTab:
    """Lay the tab out; ``names`` are the checkpoint choices, names or (label, name) (fixed here: API calls are
    checked against them),
    ``pair`` the checkpoints shown first, which are also the API's defaults (see :mod:`mae_app.api_defaults`), and
    ``row_labels`` the rows' first headings (naming that pair)."""
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
                stroke = gr.Number(None, visible="hidden", elem_id="stroke-time")
            with gr.Column(scale=1):
                # values are set again per page load (on_load): the pair may change while the server runs
                a = gr.Dropdown(list(names), value=pair[0], label="Checkpoint, top row", elem_id="checkpoint-top")
                b = gr.Dropdown(list(names), value=pair[1], label="Checkpoint, bottom row", elem_id="checkpoint-bottom")
                strategy = strategy_choice(
                    [*MASK_STRATEGIES, CUSTOM_MASK], value="random", label="Mask", elem_id="mask-strategy"
                )
                low, high = RATIO_RANGE
                ratio = gr.Slider(low, high, value=0.75, step=0.05, label="Mask ratio", elem_id="mask-ratio")
                with gr.Row():
                    # no `minimum`: gradio would refuse -1 before the handler, marking every output "Error"
                    seed = gr.Number(0, precision=0, label="Seed (fixes the mask)", scale=2, elem_id="mask-seed")
                    new_seed = gr.Button("New seed", scale=1)
                with gr.Row():
                    crop = gr.Checkbox(False, label="Centre crop (instead of squashing to a square)", elem_id="crop")
                    keep_aspect = gr.Checkbox(
                        False,
                        label=f"Keep aspect (native size, up to {MAX_IMAGE_SIDE} px a side)",
                        elem_id="keep-aspect",
                    )
                denorm = gr.Radio(
                    [("honest (visible patches only)", "honest"), ("oracle (leaks the answer)", "oracle")],
                    value="honest",
                    label="Norm-pix checkpoints: de-normalise with statistics from",
                    elem_id="denorm",
                )
                run = gr.Button("Reconstruct", variant="primary", elem_id="run-compare")
                api_run = gr.Button("Reconstruct", visible=False)
        stale = gr.Markdown(elem_id="compare-stale")
        panels, labels = _panel_rows(row_labels)
        metrics = gr.Dataframe(
            empty_table(EMPTY_COMPARE), label="Metrics on the removed patches", interactive=False, elem_id="metrics"
        )
        gr.Markdown(metric_legend(RECONSTRUCTION_METRICS), elem_id="compare-metric-legend")
        note = gr.Markdown(label="note", elem_id="compare-note")
        copy_link, link = link_row("compare")
        shown = gr.State(None)  # inside the tab: a child of the Tabs itself would be taken for a tab
        attention = attention_view.build()
        uncertainty = uncertainty_view.build()
    return CompareTab(
        image,
        a,
        b,
        ratio,
        seed,
        new_seed,
        crop,
        strategy,
        painter,
        removed,
        stroke,
        run,
        api_run,
        panels,
        labels,
        metrics,
        note,
        copy_link,
        link,
        keep_aspect,
        denorm,
        stale,
        shown,
        attention,
        uncertainty,
    )


def _panel_rows(row_labels: tuple[str, str]) -> tuple[tuple[gr.Image, ...], tuple[gr.Markdown, gr.Markdown]]:
    panels: list[gr.Image] = []
    labels: list[gr.Markdown] = []
    for row, text in zip(ROWS, row_labels):
        labels.append(gr.Markdown(text, elem_id=f"{row}-label"))
        with gr.Row(equal_height=True):
            panels += [result_panel(panel_label(label, row), f"{row}-{i}") for i, label in enumerate(PANEL_LABELS)]
    return tuple(panels), (labels[0], labels[1])


def wire_row_labels(tab: CompareTab, row_label: Callable[[str, str], str]) -> None:
    """Each row's heading follows its checkpoint dropdown (``row_label(row, checkpoint)``: name and loss type)."""
    for row, dropdown, label in zip(ROWS, (tab.a, tab.b), tab.row_labels):
        dropdown.change(partial(row_label, row), [dropdown], [label], api_visibility="private")


def panel_label(panel: str, row: str) -> str:
    """A panel's label, distinct across the two rows (also its output name in the API): "original (top)"."""
    return f"{panel} ({row})"


# the browser's clock (ms since the page loaded), read when a stroke ends
STROKE_CLOCK = "() => performance.now()"


def wire(tab: CompareTab, compare: Callable, page: ComparePage, new_seed: Callable) -> None:
    """The named ``/compare`` endpoint is ``compare`` (its errors raised to the caller); the page's Reconstruct,
    releasing the slider, entering a seed and "New seed" run ``page.run`` (errors into the note, the result shown
    recorded). Any control changed marks the result stale in words; "Copy link" gives the result shown. Choosing
    draw (or a new image, checkpoint or crop while drawing) resets the painter (``page.canvas``); each stroke, or
    Enter in the patch box after typing indices, previews what will be hidden (:class:`ComparePage`: in the masked
    panels until the page runs, then only in the patch list)."""
    tab.api_run.click(compare, tab.inputs, tab.outputs, api_name="compare")
    stale_inputs = [tab.shown, *tab.inputs]
    page_run = {"fn": page.run, "inputs": tab.page_inputs, "outputs": tab.page_outputs, "api_visibility": "private"}
    for trigger in (tab.run.click, tab.ratio.release, tab.seed.submit):
        trigger(**page_run).then(page.stale, stale_inputs, [tab.stale], api_visibility="private")
    tab.new_seed.click(new_seed, outputs=[tab.seed], api_visibility="private").then(**page_run).then(
        page.stale, stale_inputs, [tab.stale], api_visibility="private"
    )
    for control in tab.inputs:
        control.change(page.stale, stale_inputs, [tab.stale], api_visibility="private")
    wire_link(tab.copy_link, tab.link, page.link, stale_inputs)
    canvas_outputs = [tab.painter, tab.removed, tab.ratio, tab.seed, tab.new_seed]
    for control in (tab.strategy, tab.image, tab.a, tab.crop):
        control.change(
            page.canvas, [tab.strategy, tab.image, tab.a, tab.crop], canvas_outputs, api_visibility="private"
        )
    preview_inputs = [tab.image, tab.a, tab.b, tab.crop]
    preview_outputs = [*tab.panels, tab.note, tab.metrics, tab.shown]
    # Each stroke is stamped in the browser before its preview reads the painting: the painter uploads its layers
    # while gradio gathers it, so two strokes' previews can reach the server in either order, and the page drops
    # the one older than a preview it has already seen (ComparePage.preview_drawing). The stamp must be wired first.
    tab.painter.input(None, None, [tab.stroke], js=STROKE_CLOCK, trigger_mode="multiple", api_visibility="private")
    tab.painter.input(
        page.preview_drawing,
        [tab.painter, tab.stroke, *preview_inputs],
        [tab.removed, *preview_outputs],
        api_visibility="private",
        **FOLLOW_LATEST,  # strokes made during a slow preview are previewed after it: the patch list ends complete
    )
    tab.removed.submit(
        page.preview_patches, [tab.removed, *preview_inputs], preview_outputs, api_visibility="private", **FOLLOW_LATEST
    )
