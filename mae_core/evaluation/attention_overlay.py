"""An attention map laid over the masked image: where one query token looked, patch by patch.

Each visible patch is tinted with the colour of the attention it received (0 to ``vmax``; two maps meant to be read
against each other share ``vmax``); removed patches keep the masked panel's flat colour (no token there); the query
patch, when it is one, is outlined.
"""

from __future__ import annotations

import numpy as np

from .heatmap import _colormap

DEFAULT_COLORMAP = "inferno"
TINT = 0.7  # share of the colour in a visible patch (the rest is the image, so the content stays readable)
QUERY_OUTLINE = (0, 255, 255)  # cyan: not in the colormap


def attention_overlay(
    image: np.ndarray,
    grid: np.ndarray,
    *,
    vmax: float,
    query: int | None = None,
    colormap: str = DEFAULT_COLORMAP,
) -> np.ndarray:
    """[H, W, 3] uint8 ``image`` + [gh, gw] attention ``grid`` (NaN at removed patches) -> [H, W, 3] uint8.

    ``H`` and ``W`` must be multiples of the grid; ``query`` (a row-major patch index) is outlined."""
    values = np.asarray(grid, dtype=np.float64)
    height, width = image.shape[:2]
    grid_h, grid_w = values.shape
    if height % grid_h or width % grid_w:
        raise ValueError(f"image {height}x{width} is not a multiple of the {grid_h}x{grid_w} patch grid")
    if not np.isfinite(vmax) or vmax <= 0:
        raise ValueError(f"vmax must be a positive finite number, got {vmax!r}")
    ph, pw = height // grid_h, width // grid_w
    colours = _colormap(colormap)(np.clip(np.nan_to_num(values / vmax), 0.0, 1.0))[..., :3] * 255  # [gh, gw, 3]
    tint = np.where(np.isnan(values), 0.0, TINT)[..., None]  # [gh, gw, 1]
    # per patch -> per pixel: each patch one solid block
    colours = colours.repeat(ph, axis=0).repeat(pw, axis=1)
    tint = tint.repeat(ph, axis=0).repeat(pw, axis=1)
    out = image.astype(np.float64) * (1 - tint) + colours * tint
    out = np.round(out).astype(np.uint8)
    if query is not None:
        row, col = divmod(int(query), grid_w)
        top, left = row * ph, col * pw
        edge = max(1, min(ph, pw) // 8)
        box = out[top : top + ph, left : left + pw]
        box[:edge], box[-edge:], box[:, :edge], box[:, -edge:] = (QUERY_OUTLINE,) * 4
    return out
