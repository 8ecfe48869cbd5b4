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
