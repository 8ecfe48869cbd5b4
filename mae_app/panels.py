"""Reconstructions as the PNG files the page shows: the four panels and the per-patch error heatmap of a result.

PNG files, not arrays: gradio rewrites an array's cache file in place, racing with concurrent downloads (see
:mod:`mae_app.atomic_png`). Every file lands in gradio's served cache, content-addressed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from mae_core.evaluation.heatmap import DEFAULT_COLORMAP, error_heatmap, shared_vmax
from mae_core.evaluation.reconstruct import Reconstruction

from .atomic_png import save_png
from .served_files import served_folder

PANEL_FILES = ("original", "masked", "reconstruction", "reconstruction_visible", "error_heatmap")
FOLDER = "mae-panels"
SCALE_SIDE = 224  # the heatmap with its colour bar is drawn at least this tall: the scale's numbers stay legible
BAR_WIDTH = 14  # pixels of the colour bar; a gap, the bar, a gap, then its numbers (top, middle, bottom)
LABEL_WIDTH = 90
GAP = 6
SCALE_WIDTH = 2 * GAP + BAR_WIDTH + LABEL_WIDTH  # what the scale adds to the heatmap's width


def heatmap_scale(results: Sequence[Reconstruction]) -> float:
    """One colour scale for the heatmaps of results shown side by side."""
    return shared_vmax([r.patch_error for r in results], [r.mask for r in results])


def panel_files(result: Reconstruction, vmax: float) -> list[str]:
    """The four panels and the error heatmap (colours up to ``vmax``) of one reconstruction, as PNG file paths."""
    heatmap = heatmap_with_scale(result.patch_error, result.mask, result.original.shape[:2], vmax)
    panels = (result.original, result.masked, result.reconstruction, result.reconstruction_visible, heatmap)
    return [served_png(panel, name) for panel, name in zip(panels, PANEL_FILES)]


def served_png(image: np.ndarray, name: str) -> str:
    """``image`` ([H, W, 3] uint8) as a PNG file in gradio's served cache."""
    return str(save_png(image, served_folder(FOLDER), name))


def heatmap_with_scale(
    patch_error: np.ndarray,
    mask: np.ndarray,
    size: tuple[int, int],
    vmax: float,
    *,
    vmin: float = 0.0,
    colormap: str = DEFAULT_COLORMAP,
) -> np.ndarray:
    """A per-patch (or per-pixel) map (``mae_core.evaluation.heatmap.error_heatmap``, colours ``vmin`` to ``vmax``
    in ``colormap``) enlarged by a whole factor to at least :data:`SCALE_SIDE` pixels high (each patch stays an exact
    block), with a colour bar beside it: the same colours from ``vmax`` (top) to ``vmin`` (bottom), numbered. A
    diverging map of ``b - a`` passes ``vmin=-limit, vmax=limit`` and ``DIVERGING_COLORMAP``. [H', W', 3] uint8."""
    height, width = size
    factor = max(1, math.ceil(SCALE_SIDE / height))
    side = height * factor
    scale = {"vmin": vmin, "vmax": vmax, "colormap": colormap}
    heatmap = error_heatmap(patch_error, mask, (side, width * factor), **scale)
    levels = np.linspace(vmax, vmin, side)[:, None]  # [side, 1]: one colour level per pixel row, top = vmax
    bar = error_heatmap(levels, np.ones_like(levels), (side, BAR_WIDTH), **scale)
    canvas = np.full((side, heatmap.shape[1] + SCALE_WIDTH, 3), 255, dtype=np.uint8)
    canvas[:, : heatmap.shape[1]] = heatmap
    left = heatmap.shape[1] + GAP
    canvas[:, left : left + BAR_WIDTH] = bar
    picture = Image.fromarray(canvas)
    draw = ImageDraw.Draw(picture)
    font = ImageFont.load_default(size=max(12, side // 13))
    half = font.size / 2
    for fraction in (0.0, 0.5, 1.0):  # top, middle, bottom of the bar
        row = min(max(fraction * (side - 1), half), side - 1 - half)
        value = vmax + (vmin - vmax) * fraction
        draw.text((left + BAR_WIDTH + GAP, row), f"{value:.3g}", fill=(0, 0, 0), font=font, anchor="lm")
    return np.asarray(picture)
