"""A hand-drawn mask: paint over an image, and a patch with half or more of its area painted is removed.

The patch grid is laid over the whole painted canvas, whatever its size: patch ``(i, j)`` of a ``g_h x g_w`` grid
covers rows ``[i H / g_h, (i + 1) H / g_h)`` and columns ``[j W / g_w, (j + 1) W / g_w)``. When ``H`` or ``W`` is
not a multiple of its grid side a pixel straddles two patches and counts for each in proportion to its overlap;
areas are kept as exact integers (in units of 1 / g_h pixel by 1 / g_w pixel), so "half" is decided without
rounding.
"""

from __future__ import annotations

import numpy as np

from .pos_embed import grid_shape


def painted_area(painted: np.ndarray, grid_size: int | tuple[int, int]) -> tuple[np.ndarray, int]:
    """([g_h, g_w] int64 painted area per patch, the area of one patch), both in (1/g_h x 1/g_w pixel) units.

    ``painted``: [H, W]; non-zero (or True) = painted. ``grid_size``: a square side or (g_h, g_w)."""
    painted = np.asarray(painted)
    if painted.ndim != 2 or min(painted.shape) < 1:
        raise ValueError(f"a painted mask must be a 2-D [H, W] array, got shape {list(painted.shape)}")
    try:
        grid_rows, grid_cols = grid_shape(grid_size)
    except (TypeError, ValueError):
        raise ValueError(f"grid_size must be a positive integer or (rows, cols), got {grid_size!r}") from None
    height, width = painted.shape
    rows = _overlap(height, grid_rows)  # [g_h, H]
    cols = _overlap(width, grid_cols)  # [g_w, W]
    area = rows @ (painted != 0).astype(np.int64) @ cols.T  # [g_h, g_w]
    return area, height * width


def patches_from_painting(painted: np.ndarray, grid_size: int | tuple[int, int]) -> np.ndarray:
    """[g_h, g_w] bool, True = removed: at least half of the patch's area is painted. ``grid_size``: a square side
    or (g_h, g_w)."""
    area, patch_area = painted_area(painted, grid_size)
    return 2 * area >= patch_area


def _overlap(pixels: int, grid_size: int) -> np.ndarray:
    """[grid_size, pixels] int64: length shared by patch ``i`` and pixel ``r`` along one axis, in 1/g pixel units.

    Scaled by ``g``, pixel ``r`` spans ``[r g, (r + 1) g)`` and patch ``i`` spans ``[i P, (i + 1) P)``."""
    pixel_start = np.arange(pixels, dtype=np.int64)[None, :] * grid_size
    patch_start = np.arange(grid_size, dtype=np.int64)[:, None] * pixels
    shared = np.minimum(pixel_start + grid_size, patch_start + pixels) - np.maximum(pixel_start, patch_start)
    return np.clip(shared, 0, None)
