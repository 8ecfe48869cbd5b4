"""Draw handlers: the painter for a drawn (``custom``) mask and the preview of what it hides, before running."""

from __future__ import annotations

import gradio as gr
import numpy as np

from mae_core.evaluation.preprocess import preprocess, to_uint8
from mae_core.evaluation.reconstruct import masked_preview
from mae_core.modeling.drawn_mask import patches_from_painting
from mae_core.options import CUSTOM_MASK

from .. import formatting, inputs
from ..panels import PANEL_FILES, served_png
from .base import AppState

MASKED = PANEL_FILES.index("masked")
NO_DRAWING = "Upload an image, choose **draw**, then paint over what to hide."


class DrawHandlers(AppState):
    """The Compare tab's draw mode: its painter, and previews from a painting or from typed patch indices."""

    def drawing_canvas(self, strategy: str, image: str | None, a: str, crop: bool = False) -> tuple:
        """The Draw panel for the current image: the painter (the image as checkpoint ``a`` sees it, nothing
        painted), the cleared "removed patches" box, and whether the seed and ratio controls apply (three updates).
        Seeded strategies hide the painter; no image yet leaves it empty."""
        drawing = inputs.strategy_name(strategy) == CUSTOM_MASK
        seeded = gr.update(visible=not drawing)
        if not drawing:
            return gr.update(visible=False), gr.update(visible=False), seeded, seeded, seeded
        canvas = None
        if image and a:
            config = self.model(a).config
            try:
                model_input = to_uint8(preprocess(inputs.read_image(image), config.img_size, crop=bool(crop)))
                canvas = {"background": model_input, "layers": [], "composite": None}
            except (gr.Error, ValueError):  # an unreadable image: the empty painter; previews and runs say why
                pass
        return gr.update(value=canvas, visible=True), gr.update(value="", visible=True), seeded, seeded, seeded

    def preview_drawing(self, painting: dict | None, image: str | None, a: str, b: str, crop: bool = False) -> tuple:
        """What a drawing hides, before running: the removed patch indices on checkpoint ``a``'s grid (half or more
        of a patch painted), both rows' panels with only the masked one filled in (the others wait for
        Reconstruct), and a note."""
        blank = [None] * 2 * len(PANEL_FILES)
        painted = inputs.painted_pixels(painting)
        if painted is None or not image:
            return "", *blank, NO_DRAWING
        grid = self.model(a).config.grid_size
        removed = np.flatnonzero(patches_from_painting(painted, grid)).tolist()
        if not removed:
            return "", *blank, f"Nothing hidden yet: paint over at least half of a patch ({grid}x{grid} grid)."
        return formatting.patch_list(removed), *self._masked_previews(removed, image, a, b, crop)

    def preview_patches(self, removed: str | None, image: str | None, a: str, b: str, crop: bool = False) -> tuple:
        """What typed patch indices hide, before running: both rows' panels with only the masked one filled in,
        and a note (as :meth:`preview_drawing` does for a painting)."""
        if not image:
            return *[None] * 2 * len(PANEL_FILES), NO_DRAWING
        return self._masked_previews(inputs.removed_patches(removed), image, a, b, crop)

    def _masked_previews(self, removed: list[int], image: str, a: str, b: str, crop: bool) -> tuple:
        """Both rows' panels with only the masked one (``removed`` hidden on each checkpoint's input), and a note."""
        panels: list[str | None] = [None] * 2 * len(PANEL_FILES)
        picture = inputs.read_image(image)
        for row, name in enumerate((a, b)):
            config = self.model(name).config
            try:
                panel = masked_preview(
                    picture, removed, img_size=config.img_size, patch_size=config.patch_size, crop=bool(crop)
                )
            except ValueError as err:  # out of a checkpoint's grid, or every patch removed
                raise inputs.user_error(err) from None
            panels[row * len(PANEL_FILES) + MASKED] = served_png(panel, "masked")
        return *panels, formatting.drawn_note(len(removed), self.model(a).config.num_patches)
