"""Rendering a per-patch error grid as an RGB picture aligned with the reconstruction panels.

Only the removed patches carry the loss, so visible patches are drawn flat grey instead of coloured: a viewer sees
where the model had to guess and how badly. Two heatmaps meant to be compared must share ``vmax`` (see
:func:`shared_vmax`); otherwise each one stretches its own colours and the rows cannot be read against each other.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..modeling.patches import mask_to_pixels

VISIBLE_GREY = 128  # uint8 grey of the patches the encoder saw (no loss there)
DEFAULT_COLORMAP = "magma"
DIVERGING_COLORMAP = "RdBu_r"  # differences b - a: blue below 0 (b lower), white at 0, red above (a lower)


def shared_vmax(errors: Sequence[np.ndarray], masks: Sequence[np.ndarray]) -> float:
    """The largest error over the removed patches of all grids (> 0), the top of a colour scale they share.

    ``errors[i]`` and ``masks[i]`` are [gh, gw]; mask 1 = removed. Returns a tiny positive value when every removed
    patch is exact, so callers can divide by it.
    """
    if len(errors) != len(masks):
        raise ValueError(f"got {len(errors)} error grids but {len(masks)} masks; pass one mask per grid")
    top = 0.0
    for error, mask in zip(errors, masks):
        removed = np.asarray(error, dtype=np.float64)[np.asarray(mask) > 0.5]
        if removed.size:
            top = max(top, float(np.nanmax(removed)))
    return top if top > 0.0 else 1e-12


def error_heatmap(
    patch_error: np.ndarray,
    mask: np.ndarray,
    size: int | tuple[int, int],
    *,
    vmax: float | None = None,
    vmin: float = 0.0,
    colormap: str = DEFAULT_COLORMAP,
) -> np.ndarray:
    """[gh, gw] per-patch error + [gh, gw] mask (1 = removed) -> [H, W, 3] uint8 heatmap.

    ``size`` is the output side (int) or (H, W); it must be a multiple of the grid so each patch becomes an exact
    block, the same blocks as in the reconstruction panels. Colours run from ``vmin`` (default 0) to ``vmax``
    (default: this grid's own largest removed-patch error); visible patches are grey. A per-pixel map is a grid of
    1-pixel patches. For a signed difference use :func:`difference_heatmap`.
    """
    error = np.asarray(patch_error, dtype=np.float64)
    mask = np.asarray(mask)
    if error.ndim != 2:
        raise ValueError(f"patch_error must be a [gh, gw] grid, got shape {list(error.shape)}")
    if mask.shape != error.shape:
        raise ValueError(f"mask shape {list(mask.shape)} does not match patch_error shape {list(error.shape)}")
    height, width = (size, size) if isinstance(size, int) else size
    grid_h, grid_w = error.shape
    if height <= 0 or width <= 0 or height % grid_h or width % grid_w:
        raise ValueError(f"size {height}x{width} must be a positive multiple of the {grid_h}x{grid_w} patch grid")
    if vmax is None:
        vmax = shared_vmax([error], [mask])
    if not np.isfinite(vmax) or not np.isfinite(vmin) or vmax <= vmin:
        raise ValueError(f"the colour scale must run between finite numbers, vmin < vmax; got {vmin!r} to {vmax!r}")

    scaled = np.clip(np.nan_to_num((error - vmin) / (vmax - vmin), nan=1.0), 0.0, 1.0)  # [gh, gw] in [0, 1]
    colours = _colormap(colormap)(scaled)[..., :3]  # [gh, gw, 3] floats in [0, 1]
    cells = np.round(colours * 255).astype(np.uint8)
    cells[mask <= 0.5] = VISIBLE_GREY
    # one solid block per patch, the colour channels as three rows of per-patch values: [3, L] -> [3, 1, H, W]
    per_patch = torch.from_numpy(cells).permute(2, 0, 1).reshape(3, grid_h * grid_w)
    blocks = mask_to_pixels(per_patch, (height // grid_h, width // grid_w), (grid_h, grid_w))
    return blocks[:, 0].permute(1, 2, 0).contiguous().numpy()  # [H, W, 3]


def symmetric_limit(diffs: Sequence[np.ndarray], masks: Sequence[np.ndarray]) -> float:
    """The largest |difference| over the removed patches of all grids (> 0): a diverging scale runs from minus it
    to plus it, so 0 is its middle colour whatever the data."""
    return shared_vmax([np.abs(np.asarray(d, dtype=np.float64)) for d in diffs], masks)


def difference_heatmap(
    diff: np.ndarray,
    mask: np.ndarray,
    size: int | tuple[int, int],
    *,
    limit: float | None = None,
    colormap: str = DIVERGING_COLORMAP,
) -> np.ndarray:
    """[gh, gw] signed per-patch difference (``b - a``) + [gh, gw] mask -> [H, W, 3] uint8 diverging map: colours
    from ``-limit`` (blue) through 0 (white) to ``+limit`` (red), default :func:`symmetric_limit` of this grid;
    visible patches grey (NaN there is fine)."""
    if limit is None:
        limit = symmetric_limit([diff], [mask])
    return error_heatmap(diff, mask, size, vmin=-limit, vmax=limit, colormap=colormap)


def _colormap(name: str):
    # matplotlib is imported here, not at module import: the app's first page should not wait for it
    from matplotlib import colormaps

    if name not in colormaps:
        raise ValueError(f"unknown colormap {name!r}; use a matplotlib name such as 'magma' or 'viridis'")
    return colormaps[name]
