"""Masking strategies as removal ORDERS of the patches of a grid (square or rectangular, g_h x g_w).

The official masking keeps the ``len_keep`` patches of lowest noise (:func:`.masking.random_masking`), so
any ordering of the patches is a mask for every ratio at once: write the order as noise (:func:`order_to_noise`)
and the model, the packed engine and the nesting across ratios work unchanged. The removed set at a ratio is always
the first ``L - int(L * (1 - ratio))`` patches of the order.

- ``block`` (BEiT, Bao et al. 2021, as in the MAE paper's Figure 6 ablation): rectangles of random area and aspect
  ratio at random positions, each adding its not-yet-ordered patches (row by row inside the rectangle), until every
  patch is ordered. At any ratio the removed set is the union of the first rectangles (the last one maybe in part).
- ``grid``: a regular lattice. The keep order is an ordered-dither (Bayer) order of the grid shifted by a seeded
  offset ``(oy, ox)`` in {0, 1}^2: first the patches with ``y % 2 == oy and x % 2 == ox`` (one per 2 x 2 cell: ratio
  0.75 keeps exactly those on a 14 x 14 grid), then the opposite corner of each cell (0.5 is a checkerboard), then
  the third, then the fourth; inside each of these four classes the same rule recurses on 2 x 2 cells of the class's
  own sub-lattice, so every prefix of the order is spread evenly over the image.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch

from .pos_embed import grid_shape

BLOCK_MIN_ASPECT = 0.3  # BEiT's aspect-ratio range [0.3, 1 / 0.3], drawn log-uniformly (tall and wide alike)
BLOCK_AREA_FRACTION = 0.4  # largest block: BEiT masked 40 % of the grid, one block at most being all of that
BLOCK_MIN_AREA_196 = 16  # BEiT's smallest block on its 14 x 14 grid; scaled with the patch count for other grids

# Bayer's 2 x 2 threshold map, indexed [y % 2][x % 2]: (0,0) first, the diagonal (1,1) next, then (0,1), then (1,0)
_BAYER_2X2 = np.array([[0, 2], [3, 1]], dtype=np.int64)


Grid = int | tuple[int, int]  # a square grid's side, or (rows, cols)


def grid_rows_cols(num_patches: int, grid: Grid | None = None) -> tuple[int, int]:
    """(g_h, g_w) of the ``num_patches`` patches: ``grid`` when given (its product must be ``num_patches``), else
    the square grid (:func:`grid_side`); ``ValueError`` naming the mismatch."""
    if grid is None:
        side = grid_side(num_patches)
        return side, side
    rows, cols = grid_shape(grid)
    if rows * cols != num_patches:
        raise ValueError(f"a {rows}x{cols} patch grid has {rows * cols} patches, not {num_patches}")
    return rows, cols


def grid_side(num_patches: int) -> int:
    """The side of the square patch grid; ``ValueError`` when ``num_patches`` is not a positive square."""
    if isinstance(num_patches, bool) or not isinstance(num_patches, numbers.Integral) or num_patches < 1:
        raise ValueError(f"num_patches must be a positive integer, got {num_patches!r}")
    side = math.isqrt(int(num_patches))
    if side * side != num_patches:
        raise ValueError(
            f"num_patches must be a square for a square patch grid, got {num_patches}; pass grid=(rows, cols)"
        )
    return side


def order_to_noise(removal_order: np.ndarray) -> torch.Tensor:
    """[L] float32 noise in (0, 1) whose ascending argsort is ``removal_order`` reversed: the first patch of the
    order has the highest noise, so it is removed first. ``removal_order`` is a permutation of ``range(L)``."""
    length = len(removal_order)
    keep_rank = np.empty(length, dtype=np.int64)
    keep_rank[np.asarray(removal_order)[::-1]] = np.arange(length)
    return torch.from_numpy((keep_rank + 0.5) / length).to(torch.float32)  # distinct values, exact for L < 2**24


def block_min_area(num_patches: int) -> int:
    """BEiT's smallest block (16 patches of 196) scaled to ``num_patches``; at least one patch (4 x 4 grids: 1)."""
    return max(1, round(BLOCK_MIN_AREA_196 * num_patches / 196))


def block_removal_order(grid: Grid, generator: torch.Generator) -> np.ndarray:
    """[g_h * g_w] patch indices (row-major) in the order BEiT-style blocks remove them (see the module docstring).

    ``grid``: a square side or (g_h, g_w). Each block draws four uniforms from ``generator``: area ~ U(min, max)
    patches, log aspect (height / width) ~ U(log 0.3, log 1/0.3), then the top-left corner uniformly among the
    positions where the block fits. Blocks that add nothing are redrawn.
    """
    rows, cols = grid_shape(grid)
    length = rows * cols
    min_area = block_min_area(length)
    max_area = max(min_area, math.ceil(BLOCK_AREA_FRACTION * length))
    log_low, log_high = math.log(BLOCK_MIN_ASPECT), -math.log(BLOCK_MIN_ASPECT)
    ordered = np.zeros((rows, cols), dtype=bool)
    order: list[int] = []
    while len(order) < length:
        u_area, u_aspect, u_top, u_left = torch.rand(4, generator=generator, dtype=torch.float64).tolist()
        area = min_area + u_area * (max_area - min_area)
        aspect = math.exp(log_low + u_aspect * (log_high - log_low))
        height = min(rows, max(1, round(math.sqrt(area * aspect))))
        width = min(cols, max(1, round(math.sqrt(area / aspect))))
        top = int(u_top * (rows - height + 1))
        left = int(u_left * (cols - width + 1))
        block_rows, block_cols = np.nonzero(~ordered[top : top + height, left : left + width])  # row-major inside
        ordered[block_rows + top, block_cols + left] = True
        order.extend(((block_rows + top) * cols + block_cols + left).tolist())
    return np.asarray(order, dtype=np.int64)


def lattice_keep_rank(grid: Grid, offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """[g_h, g_w] int64 ordered-dither (Bayer) ranks, smaller = kept longer; see the module docstring.

    ``grid``: a square side or (g_h, g_w). ``offset`` (oy, ox) in {0, 1}^2 picks which corner of every 2 x 2 cell
    has the smallest ranks. The ranks are distinct but not contiguous when a side is not a power of two (they come
    from the enclosing square Bayer matrix, which a rectangle's ranks are a window of)."""
    rows, cols = grid_shape(grid)
    oy, ox = offset
    levels = max(1, math.ceil(math.log2(max(rows, cols) + 1)))  # the enclosing 2**levels matrix fits the grid
    ys = np.arange(rows)[:, None] + oy
    xs = np.arange(cols)[None, :] + ox
    rank = np.zeros((rows, cols), dtype=np.int64)
    for level in range(levels):  # the finest level (bit 0) decides most: it is the most significant digit
        digit = _BAYER_2X2[(ys >> level) & 1, (xs >> level) & 1]
        rank += digit * 4 ** (levels - 1 - level)
    return rank


def grid_removal_order(grid: Grid, generator: torch.Generator) -> np.ndarray:
    """[g_h * g_w] patch indices, lattice order with the 2 x 2 offset drawn from ``generator`` (one integer)."""
    which = int(torch.randint(4, (1,), generator=generator))
    rank = lattice_keep_rank(grid, (which // 2, which % 2)).reshape(-1)
    return np.argsort(-rank, kind="stable")  # highest rank first: removed first
