"""The attention overlay: visible patches tinted by their attention, removed patches untouched, the query outlined."""

from __future__ import annotations

import numpy as np
import pytest

from mae_core.evaluation.attention_overlay import QUERY_OUTLINE, attention_overlay


def _image() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(32, 48, 3), dtype=np.uint8)  # a 4 x 6 grid of 8 px patches


def test_removed_patches_are_left_as_they_are_and_attention_orders_brightness():
    grid = np.full((4, 6), np.nan, dtype=np.float32)
    grid[0, 0], grid[0, 1], grid[3, 5] = 0.0, 0.5, 1.0
    image = np.full((32, 48, 3), 100, dtype=np.uint8)
    out = attention_overlay(image, grid, vmax=1.0)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert (out[8:24] == 100).all()  # rows 1-2 are all removed: untouched
    # inferno runs dark to bright: more attention, a brighter patch
    assert out[:8, :8].sum() < out[:8, 8:16].sum() < out[24:, 40:].sum()
    assert len({tuple(p) for p in out[:8, 8:16].reshape(-1, 3)}) == 1  # one solid tint per patch


def test_query_patch_is_outlined():
    grid = np.full((4, 6), 0.1, dtype=np.float32)
    out = attention_overlay(_image(), grid, vmax=0.2, query=7)  # row 1, column 1
    box = out[8:16, 8:16]
    assert (box[0] == QUERY_OUTLINE).all() and (box[:, -1] == QUERY_OUTLINE).all()
    assert not (box[2:-2, 2:-2] == QUERY_OUTLINE).all(axis=-1).any()
    assert not (attention_overlay(_image(), grid, vmax=0.2) == QUERY_OUTLINE).all(axis=-1).any()


def test_bad_sizes_and_scales_are_refused():
    with pytest.raises(ValueError, match="not a multiple of the 5x6 patch grid"):
        attention_overlay(_image(), np.zeros((5, 6)), vmax=1.0)
    with pytest.raises(ValueError, match="vmax must be a positive finite number"):
        attention_overlay(_image(), np.zeros((4, 6)), vmax=0.0)
