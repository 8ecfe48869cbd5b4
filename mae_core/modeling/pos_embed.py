"""Fixed 2-D sin-cos position embeddings in the official MAE layout.

The official grid is built with ``meshgrid(grid_w, grid_h)`` ("w goes first"), so the FIRST half of the channels
encodes the column index and the second half the row index. The pretrained weights depend on this exact layout,
so it is reproduced here in float64 numpy arithmetic, as the official code does, and cast to float32 at the end.
"""

from __future__ import annotations

import numpy as np


def sincos_1d(embed_dim: int, positions: np.ndarray) -> np.ndarray:
    """[M] positions -> [M, embed_dim]: sin of every frequency, then cos of every frequency."""
    if embed_dim % 2:
        raise ValueError(f"embed_dim must be even for a 1-D sin-cos embedding, got {embed_dim}")
    omega = np.arange(embed_dim // 2, dtype=np.float64) / (embed_dim / 2.0)
    omega = 1.0 / 10000**omega  # [D/2]
    out = np.einsum("m,d->md", positions.reshape(-1).astype(np.float64), omega)  # [M, D/2]
    return np.concatenate([np.sin(out), np.cos(out)], axis=1)


def sincos_2d(embed_dim: int, grid_size: int | tuple[int, int], cls_token: bool = False) -> np.ndarray:
    """[g_h * g_w (+1), embed_dim] float32; row-major over patches; a zero row first when ``cls_token``.

    ``grid_size``: the side of a square grid, or ``(g_h, g_w)`` rows and columns. The embeddings are fixed
    functions of a patch's (row, column), so any grid's are generated exactly, not interpolated: a patch at
    (row, col) gets the same vector on every grid that contains it."""
    if embed_dim % 4:
        raise ValueError(f"embed_dim must be divisible by 4 for a 2-D sin-cos embedding, got {embed_dim}")
    rows, cols = grid_shape(grid_size)
    grid_first, grid_second = np.meshgrid(
        np.arange(cols, dtype=np.float32), np.arange(rows, dtype=np.float32)
    )  # both [g_h, g_w]; the first varies along columns ("w goes first")
    emb = np.concatenate(
        [sincos_1d(embed_dim // 2, grid_first), sincos_1d(embed_dim // 2, grid_second)], axis=1
    )  # [g_h * g_w, D]
    if cls_token:
        emb = np.concatenate([np.zeros([1, embed_dim]), emb], axis=0)
    return emb.astype(np.float32)


def grid_shape(grid_size: int | tuple[int, int]) -> tuple[int, int]:
    """``(g_h, g_w)`` from a square side or a (rows, cols) pair; ``ValueError`` unless both are positive ints."""
    pair = (grid_size, grid_size) if isinstance(grid_size, (int, np.integer)) else tuple(grid_size)
    if len(pair) != 2:
        raise ValueError(f"a patch grid must be (rows, cols), got {grid_size!r}")
    rows, cols = pair
    for value in pair:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"a patch grid must be positive integers (rows, cols), got {grid_size!r}")
    return int(rows), int(cols)
