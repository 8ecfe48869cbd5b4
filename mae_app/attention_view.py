"""The Compare tab's attention view: where each checkpoint looked, for the class token or a clicked patch.

Both rows use the Compare's mask (same image, strategy, ratio, seed or drawn patches) and size (the square
input, or the image's own aspect with "Keep aspect"), so the two checkpoints' attention is read on the same visible
set of the picture the Compare shows. The view's handler is the named ``/attention`` endpoint; the section is
an accordion that computes only while open (each opening, control change, patch click or new Compare result), and
the results of the last few masks are kept so moving between layers and heads does not run the models again.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import gradio as gr
import numpy as np

from mae_core.evaluation.attention_overlay import attention_overlay
from mae_core.evaluation.reconstruct import Reconstruction, reconstruct
from mae_core.files import file_sha256
from mae_core.modeling.attention import CLASS_TOKEN, AttentionMap
from mae_core.modeling.model import MaskedAutoencoderViT

from . import inputs
from .components import FOLLOW_LATEST, result_panel
from .panels import served_png

ROLLOUT = "rollout"
MEAN = "mean"
CACHE_SIZE = 8  # reconstructions with attention kept (one per checkpoint and mask)
LAYER_CHOICES = [ROLLOUT, "-1", *map(str, range(32))]  # huge has 32 encoder layers
HEAD_CHOICES = [MEAN, *map(str, range(16))]


@dataclass(frozen=True)
class AttentionQuery:
    """What to show: the query token (a patch index, None for the class token), a layer (None: the rollout;
    negative: from the end) and a head (None: the mean of the heads)."""

    patch: int | None
    layer: int | None
    head: int | None


def attention_query(patch: str | float | None, layer: str | float | None, head: str | float | None) -> AttentionQuery:
    """The view's text controls as an :class:`AttentionQuery`; ``gr.Error`` naming what is accepted."""
    return AttentionQuery(
        _whole(patch, CLASS_TOKEN, "patch", "a patch index >= 0, or empty / 'class token' for the class token"),
        _whole(layer, ROLLOUT, "layer", "'rollout' or a layer number (0 = first, -1 = last)", negative=True),
        _whole(head, MEAN, "head", "'mean' (of the heads) or a head number >= 0"),
    )


def _whole(value: str | float | None, default: str, what: str, accepted: str, negative: bool = False) -> int | None:
    text = str(value).strip().lower() if value is not None else ""
    if text in ("", default, default.split()[0]):  # "class token" or "class"
        return None
    pattern = r"-?\d+" if negative else r"\d+"
    if not re.fullmatch(pattern + r"(\.0)?", text):
        raise gr.Error(f"{what} must be {accepted}, got {value!r}")
    return int(float(text))


@dataclass(frozen=True)
class AttentionTab:
    """The attention section of the Compare tab."""

    section: gr.Accordion
    shown: gr.State  # whether the accordion is open (compute only then)
    patch: gr.Textbox  # the query: "class token" or a patch index; a click on an overlay fills it in
    layer: gr.Dropdown
    head: gr.Dropdown
    overlays: tuple[gr.Image, gr.Image]  # top row, bottom row
    note: gr.Markdown

    @property
    def controls(self) -> list:
        return [self.patch, self.layer, self.head]

    @property
    def outputs(self) -> list:
        return [*self.overlays, self.note]


def build() -> AttentionTab:
    """Lay the section out (inside the Compare tab, below the panels)."""
    with gr.Accordion("Where each checkpoint looked (attention)", open=False, elem_id="attention") as section:
        gr.Markdown(
            "Attention of one token over the visible patches, on the masked image, for both rows under the same "
            "mask. Click a patch on either picture to ask about it: a visible patch's encoder token, or a removed "
            "patch's mask token in the decoder. Brighter = more attention; one colour scale for both rows."
        )
        with gr.Row():
            patch = gr.Textbox(CLASS_TOKEN, label="Token (class token, or a patch index)", elem_id="attention-patch")
            layer = gr.Dropdown(
                LAYER_CHOICES,
                value=ROLLOUT,
                allow_custom_value=True,
                label="Layer (rollout: all encoder layers; -1: the last)",
                elem_id="attention-layer",
            )
            head = gr.Dropdown(
                HEAD_CHOICES, value=MEAN, allow_custom_value=True, label="Head", elem_id="attention-head"
            )
        with gr.Row(equal_height=True):
            overlays = (
                result_panel("top row: attention", "attention-top"),
                result_panel("bottom row: attention", "attention-bottom"),
            )
        note = gr.Markdown(elem_id="attention-note")
    return AttentionTab(section, gr.State(False), patch, layer, head, overlays, note)


class AttentionView:
    """The handlers of the attention section over the app's checkpoints (``model(name)``, the app's cache)."""

    def __init__(self, model: Callable[[str], MaskedAutoencoderViT]) -> None:
        self.model = model
        self._results: OrderedDict[tuple, Reconstruction] = OrderedDict()
        self._lock = threading.Lock()

    def attention(
        self,
        image: str | None,
        first: str,
        second: str,
        mask_ratio: float,
        seed: float,
        crop: bool = False,
        strategy: str = "random",
        removed: str | None = "",
        patch: str | None = CLASS_TOKEN,
        layer: str | None = ROLLOUT,
        head: str | None = MEAN,
        native: bool = False,
    ) -> tuple[str, str, str]:
        """Where each checkpoint looked, under the Compare's mask (the same first eight arguments as ``/compare``).

        ``patch``: the query token, ``"class token"`` (or empty) or a patch index (row-major): a visible patch's
        token in the encoder, a removed patch's mask token in the decoder. ``layer``: ``"rollout"`` (encoder only)
        or a layer number (-1 = the last) of the part holding the token. ``head``: ``"mean"`` or a head number.
        ``native``: as ``/compare``'s ("Keep aspect"), the image's own aspect and size; patch indices are then
        row-major on that rectangular grid.

        Returns the overlay of ``first`` and of ``second`` on the masked image (2 PNG file paths) and a note."""
        query = attention_query(patch, layer, head)
        rows = []
        for name in (first, second):
            result = self.result(image, name, mask_ratio, seed, crop, strategy, removed, native)
            try:
                rows.append((name, result, result.attention.where_looked(query.patch, query.layer, query.head)))
            except ValueError as err:  # removed/visible mix-up, layer or head out of this checkpoint's range
                raise gr.Error(f"{name}: {err}", title="Cannot show that") from None
        vmax = max((float(np.nanmax(m.grid)) for _, _, m in rows if not np.isnan(m.grid).all()), default=0.0)
        vmax = vmax if vmax > 0 else 1e-12
        files = [
            served_png(attention_overlay(r.masked, m.grid, vmax=vmax, query=query.patch), "attention")
            for _, r, m in rows
        ]
        return (*files, attention_note([(name, m) for name, _, m in rows], vmax))

    def when_shown(self, shown: bool, *args) -> tuple:
        """:meth:`attention` while the section is open; nothing changes while it is closed."""
        if not shown:
            return (gr.skip(),) * 3
        return self.attention(*args)

    def pick_patch(
        self,
        image: str | None,
        a: str,
        b: str,
        mask_ratio: float,
        seed: float,
        crop: bool,
        strategy: str,
        removed: str | None,
        layer: str | None,
        native: bool,
        row: int,
        evt: gr.SelectData,
    ) -> tuple[str, str | None]:
        """The token box's text for a click on row ``row``'s overlay (0 top, 1 bottom; pixel coordinates on that
        overlay, whose patch grid is the reconstruction's: square, or the image's own with ``native``), and the
        layer: a removed patch's mask token lives in the decoder, which has no
        rollout, so a click on one while the layer is ``rollout`` moves the layer to the decoder's last (-1)."""
        if not image or evt.index is None:
            return CLASS_TOKEN, layer
        name = (a, b)[row]
        result = self.result(image, name, mask_ratio, seed, crop, strategy, removed, native)
        x, y = (int(v) for v in evt.index)
        side = self.model(name).config.patch_size
        grid_h, grid_w = result.attention.grid
        patch = min(y // side, grid_h - 1) * grid_w + min(x // side, grid_w - 1)
        if patch in result.attention.removed and attention_query(patch, layer, None).layer is None:
            layer = "-1"
        return str(patch), layer

    def result(
        self,
        image: str | None,
        name: str,
        mask_ratio: float,
        seed: float,
        crop: bool,
        strategy: str,
        removed,
        native: bool = False,
    ) -> Reconstruction:
        """``name``'s reconstruction with attention under the Compare's mask and size, from the cache when it is
        there."""
        picture = inputs.read_image(image)
        seed_value, mask_args = inputs.compare_mask(seed, strategy, removed)
        size = inputs.compare_size(native, mask_args)
        model = self.model(name)
        mask = (float(mask_ratio), seed_value, bool(crop), str(mask_args), bool(native))
        key = (file_sha256(image), name, id(model), *mask)
        with self._lock:
            if key in self._results:
                self._results.move_to_end(key)
                return self._results[key]
        try:
            result = reconstruct(
                model,
                picture,
                float(mask_ratio),
                seed_value,
                crop=bool(crop),
                metrics=[],
                attentions=True,
                **mask_args,
                **size,
            )
        except ValueError as err:
            raise inputs.user_error(err) from None
        with self._lock:
            self._results[key] = result
            while len(self._results) > CACHE_SIZE:
                self._results.popitem(last=False)
        return result


def attention_note(rows: list[tuple[str, AttentionMap]], vmax: float) -> str:
    """One line per row: what is shown and the share on the class token; then the shared scale."""
    lines = [
        f"- **{row}** ({name}): {m.source}, from the {m.query}; {m.class_token:.1%} on the class token"
        for row, (name, m) in zip(("top", "bottom"), rows)
    ]
    scale = f"Colours: 0 (dark) to {vmax:.3g} (bright), the most any visible patch gets in either row; grey: removed."
    return "\n".join([*lines, "", scale])


def wire(
    tab: AttentionTab, view: AttentionView, compare_inputs: list, keep_aspect, results: gr.components.Component, gpu
) -> None:
    """``/attention`` is computed on opening the section, on a change of its controls, on a click on an overlay
    (which picks the token) and when the Compare shows new results (``results`` changes) while it is open.
    ``compare_inputs``: the Compare's image, checkpoints, ratio, seed, crop, strategy and drawn patches, in that
    order; ``keep_aspect``: its "Keep aspect" box (``native``, the endpoint's last parameter)."""
    args = [*compare_inputs, *tab.controls, keep_aspect]
    tab.section.expand(lambda: True, outputs=[tab.shown], api_visibility="private").then(
        gpu(view.attention), args, tab.outputs, api_name="attention"
    )
    tab.section.collapse(lambda: False, outputs=[tab.shown], api_visibility="private")
    shown_args = [tab.shown, *args]
    results.change(gpu(view.when_shown), shown_args, tab.outputs, api_visibility="private")
    for control in (tab.layer, tab.head):
        control.input(gpu(view.when_shown), shown_args, tab.outputs, api_visibility="private", **FOLLOW_LATEST)
    tab.patch.submit(gpu(view.when_shown), shown_args, tab.outputs, api_visibility="private", **FOLLOW_LATEST)
    for row, overlay in enumerate(tab.overlays):
        pick_args = [*compare_inputs, tab.layer, keep_aspect, gr.State(row)]
        picked = overlay.select(
            view.pick_patch, pick_args, [tab.patch, tab.layer], api_visibility="private", **FOLLOW_LATEST
        )
        picked.then(gpu(view.when_shown), shown_args, tab.outputs, api_visibility="private")
