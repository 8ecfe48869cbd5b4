"""Sin-cos position embeddings in the official layout (first half of the channels encodes the COLUMN index)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers.models.vit_mae.modeling_vit_mae import build_2d_sinusoidal_position_embedding

from mae_core.modeling.pos_embed import sincos_1d, sincos_2d


def test_shape_dtype_and_cls_row():
    emb = sincos_2d(32, 4, cls_token=True)
    assert emb.shape == (17, 32) and emb.dtype == np.float32
    assert not emb[0].any()
    assert sincos_2d(32, 4).shape == (16, 32)


def test_first_half_encodes_column_second_half_row():
    dim, grid = 16, 5
    emb = sincos_2d(dim, grid)
    for row in range(grid):
        for col in range(grid):
            k = row * grid + col
            np.testing.assert_allclose(emb[k, : dim // 2], sincos_1d(dim // 2, np.array([col]))[0], atol=1e-7)
            np.testing.assert_allclose(emb[k, dim // 2 :], sincos_1d(dim // 2, np.array([row]))[0], atol=1e-7)
    # same column -> same first half; same row -> same second half
    assert np.array_equal(emb[0 * grid + 2, : dim // 2], emb[3 * grid + 2, : dim // 2])
    assert not np.array_equal(emb[0 * grid + 2, dim // 2 :], emb[3 * grid + 2, dim // 2 :])


def test_sin_then_cos_and_frequencies():
    out = sincos_1d(8, np.array([0.0, 1.0]))
    np.testing.assert_array_equal(out[0], [0, 0, 0, 0, 1, 1, 1, 1])
    omega = 1.0 / 10000 ** (np.arange(4) / 4)
    np.testing.assert_allclose(out[1], np.concatenate([np.sin(omega), np.cos(omega)]))


@pytest.mark.parametrize("dim, grid", [(1024, 14), (512, 14), (1280, 16), (24, 3)])
def test_matches_transformers_layout(dim, grid):
    # transformers builds [sin_h|cos_h|sin_w|cos_w] and swaps the halves to reach the official layout
    theirs = build_2d_sinusoidal_position_embedding(grid, grid, dim, cls_token=True)
    half = dim // 2
    theirs = torch.cat([theirs[:, half:], theirs[:, :half]], dim=1).numpy()
    np.testing.assert_allclose(sincos_2d(dim, grid, cls_token=True), theirs, atol=1e-6)


def test_bad_dims():
    with pytest.raises(ValueError, match="divisible by 4"):
        sincos_2d(30, 4)
    with pytest.raises(ValueError, match="even"):
        sincos_1d(7, np.arange(3))


def official_2d_sincos(embed_dim: int, grid_h: int, grid_w: int) -> np.ndarray:
    """The official ``get_2d_sincos_pos_embed`` construction (facebookresearch/mae, util/pos_embed.py) written out
    independently, with its square ``grid_size`` split into rows and columns: meshgrid over (w, h), "w goes
    first", the first half of the channels from grid[0], sin then cos, float64 omega = 1 / 10000**(d / (D/4))."""

    def one_axis(dim: int, pos: np.ndarray) -> np.ndarray:
        omega = np.arange(dim // 2, dtype=np.float64)
        omega /= dim / 2.0
        omega = 1.0 / 10000**omega
        out = np.einsum("m,d->md", pos.reshape(-1), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)

    grid = np.meshgrid(np.arange(grid_w, dtype=np.float32), np.arange(grid_h, dtype=np.float32))
    grid = np.stack(grid, axis=0).reshape([2, 1, grid_h, grid_w])
    emb = np.concatenate([one_axis(embed_dim // 2, grid[0]), one_axis(embed_dim // 2, grid[1])], axis=1)
    return np.concatenate([np.zeros([1, embed_dim]), emb], axis=0)


@pytest.mark.parametrize("dim, rows, cols", [(1024, 14, 14), (512, 20, 30), (1024, 30, 20), (768, 1, 7), (32, 5, 3)])
def test_rectangular_grid_equals_the_official_construction(dim, rows, cols):
    ours = sincos_2d(dim, (rows, cols), cls_token=True)
    assert ours.shape == (rows * cols + 1, dim) and ours.dtype == np.float32
    assert np.array_equal(ours, official_2d_sincos(dim, rows, cols).astype(np.float32))


def test_a_patch_keeps_its_vector_on_every_grid():
    # regenerated, not interpolated: patch (row 3, col 5) has one embedding whatever grid holds it
    small, large = sincos_2d(64, (14, 14)), sincos_2d(64, (20, 30))
    assert np.array_equal(small[3 * 14 + 5], large[3 * 30 + 5])
    assert np.array_equal(sincos_2d(64, 14), sincos_2d(64, (14, 14)))


@pytest.mark.parametrize("bad", [(0, 4), (3,), (2.5, 4), (True, 3), -1])
def test_bad_grids(bad):
    with pytest.raises(ValueError, match="patch grid"):
        sincos_2d(32, bad)
