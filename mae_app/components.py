"""Gradio components the app configures beyond their defaults: a checked image input, the result panels, the
"copy link" control of the shareable views, the mask strategy choice and the mask painter."""

from __future__ import annotations

from collections.abc import Callable

import gradio as gr
from PIL import Image, UnidentifiedImageError

from mae_core.options import CUSTOM_MASK

from .inputs import DRAW

BRUSH_COLOUR = "#ff00ff"  # magenta: stands out on photographs

PANEL_HEIGHT = 220  # CSS pixels; small models' 32-64 px panels are scaled up, blocky on purpose (see PANEL_CSS)
PANEL_CLASS = "mae-panel"
# panels are shown with hard pixel edges: a smoothed upscale would blur the patch boundaries the viewer compares
PANEL_CSS = f".{PANEL_CLASS} img {{ width: 100%; height: 100%; object-fit: contain; image-rendering: pixelated; }}"

# For events whose outputs show a control's current value (a stroke's preview, a layer picked, a seed chosen):
# gradio's default for them ("once") drops every trigger while one is pending, so a second stroke or pick made
# during a slow preview is never shown and the page disagrees with its own controls; "always_last" runs the last
# one once the pending one is done.
FOLLOW_LATEST = {"trigger_mode": "always_last"}


def checked_image(**kwargs) -> gr.Image:
    """A ``gr.Image`` input (``type="filepath"``) whose unreadable uploads reach the handlers as their file.

    Gradio opens every uploaded image with Pillow before the handler runs; a text file or a decompression bomb
    fails there with a bare "Error" over every output of every event taking the image (the drawing controls too).
    Passed on as the uploaded file instead, it is refused by the handler that reads it, with the engine's reason
    (``inputs.read_image``), where that handler shows its messages. Only an upload without a file is refused here.
    The instance's ``preprocess`` is wrapped rather than the class subclassed: gradio writes a ``.pyi`` stub beside
    the source of every component subclass. (Gradio rebuilds a component from its class when an event returns
    ``gr.update`` for it; no event here updates this input.)
    """
    # image_mode None: the file is passed on as uploaded. Gradio's default "RGB" converts it first, and Pillow's
    # convert drops an alpha channel, showing and measuring the colours a transparent image hides; the engine's
    # load_image composites over white instead, the same for the app, its API and the library.
    component = gr.Image(**{"image_mode": None, **kwargs})
    stock_preprocess = component.preprocess

    def preprocess(payload):
        try:
            return stock_preprocess(payload)
        except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError):
            path = getattr(payload, "path", None)
            if path:
                return str(path)
            raise gr.Error(UNREADABLE, title="Unusable image", print_exception=False) from None

    component.preprocess = preprocess
    return component


UNREADABLE = "This file is not an image that can be read (PNG, JPEG, WebP, BMP, TIFF, GIF...)."


def result_panel(label: str, elem_id: str) -> gr.Image:
    """An output image shown at :data:`PANEL_HEIGHT`, pixelated, with download and fullscreen buttons."""
    return gr.Image(
        label=label,
        format="png",
        interactive=False,
        height=PANEL_HEIGHT,
        buttons=["download", "fullscreen"],
        elem_id=elem_id,
        elem_classes=[PANEL_CLASS],
    )


def link_row(tab: str) -> tuple[gr.Button, gr.Textbox]:
    """A "Copy link" button and the box that shows the link (``#<tab>-copy-link``, ``#<tab>-link``)."""
    with gr.Row():
        button = gr.Button("Copy link to this view", size="sm", scale=0, elem_id=f"{tab}-copy-link")
        box = gr.Textbox(
            label="Link to this view",
            info="Links carry the settings and example images; uploaded images stay with you.",
            interactive=False,
            buttons=["copy"],
            scale=4,
            elem_id=f"{tab}-link",
        )
    return button, box


# The page, not the server, knows its own address (behind a proxy or a Space's iframe the server cannot tell): the
# handler gives the query string, this prefixes the page's address, shows the link and copies it.
COPY_LINK_JS = """(query) => {
    const link = window.location.origin + window.location.pathname + query;
    if (navigator.clipboard) { navigator.clipboard.writeText(link).catch(() => {}); }
    return link;
}"""


def wire_link(button: gr.Button, box: gr.Textbox, make_query: Callable, inputs: list) -> None:
    """``make_query(*inputs)`` gives the view's query string; the page turns it into a link and copies it."""
    button.click(make_query, inputs, [box], api_visibility="private").then(
        None, [box], [box], js=COPY_LINK_JS, api_visibility="private"
    )


def strategy_choice(strategies, **kwargs) -> gr.Radio:
    """A radio of mask strategies where ``custom`` shows as "draw"; a call through the API may send either name.

    As in :func:`checked_image`, the instance's ``preprocess`` is wrapped (the stock one accepts values only)."""
    choices = [(DRAW if s == CUSTOM_MASK else s, s) for s in strategies]
    component = gr.Radio(choices, **kwargs)
    stock_preprocess = component.preprocess

    def preprocess(payload):
        return stock_preprocess(CUSTOM_MASK if payload == DRAW else payload)

    component.preprocess = preprocess
    return component


def mask_painter(**kwargs) -> gr.ImageEditor:
    """A one-layer brush over the image (set by the app, never uploaded here), hidden until draw is chosen.

    The canvas takes the background's size (the checkpoint's input), so painted pixels map straight onto its
    patch grid; the brush size scales with it."""
    return gr.ImageEditor(
        type="numpy",
        image_mode="RGBA",
        sources=(),
        transforms=(),
        layers=False,
        brush=gr.Brush(colors=[BRUSH_COLOUR], default_color=BRUSH_COLOUR, color_mode="fixed"),
        eraser=gr.Eraser(),
        label="Paint over what to hide: a patch half painted or more is removed",
        height=300,
        visible=False,
        **kwargs,
    )
