"""Reconstructions as the PNG files the page shows: the four panels and the per-patch error heatmap of a result.

PNG files, not arrays: gradio rewrites an array's cache file in place, racing with concurrent downloads (see
:mod:`mae_app.png_files`). Every file lands in gradio's served cache, content-addressed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mae_core.evaluation.heatmap import error_heatmap, shared_vmax
from mae_core.evaluation.reconstruct import Reconstruction

from .exports import served_folder
from .png_files import save_png

PANEL_FILES = ("original", "masked", "reconstruction", "reconstruction_visible", "error_heatmap")
FOLDER = "mae-panels"


def heatmap_scale(results: Sequence[Reconstruction]) -> float:
    """One colour scale for the heatmaps of results shown side by side."""
    return shared_vmax([r.patch_error for r in results], [r.mask for r in results])


def panel_files(result: Reconstruction, vmax: float) -> list[str]:
    """The four panels and the error heatmap (colours up to ``vmax``) of one reconstruction, as PNG file paths."""
    heatmap = error_heatmap(result.patch_error, result.mask, result.original.shape[:2], vmax=vmax)
    panels = (result.original, result.masked, result.reconstruction, result.reconstruction_visible, heatmap)
    return [served_png(panel, name) for panel, name in zip(panels, PANEL_FILES)]


def served_png(image: np.ndarray, name: str) -> str:
    """``image`` ([H, W, 3] uint8) as a PNG file in gradio's served cache."""
    return str(save_png(image, served_folder(FOLDER), name))
