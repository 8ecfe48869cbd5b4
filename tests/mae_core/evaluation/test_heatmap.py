"""The per-patch error heatmap the app shows, and its shared colour scale."""

from __future__ import annotations

import numpy as np
import pytest

from mae_core.evaluation.heatmap import VISIBLE_GREY, difference_heatmap, error_heatmap, shared_vmax, symmetric_limit


def test_heatmap_blocks_follow_the_patch_grid_and_grey_out_visible_patches():
    error = np.array([[0.0, 0.5], [1.0, 0.25]])
    mask = np.array([[1, 1], [1, 0]])  # bottom-right patch visible
    img = error_heatmap(error, mask, 8)
    assert img.shape == (8, 8, 3) and img.dtype == np.uint8
    # every 4x4 block is one solid colour
    for r in (0, 4):
        for c in (0, 4):
            block = img[r : r + 4, c : c + 4].reshape(-1, 3)
            assert (block == block[0]).all()
    assert (img[4:, 4:] == VISIBLE_GREY).all()
    # magma runs from dark to bright: larger error, brighter block
    assert img[4, 0].sum() > img[0, 4].sum() > img[0, 0].sum()


def test_heatmap_shared_vmax_makes_two_grids_comparable():
    mask = np.ones((2, 2))
    low, high = np.full((2, 2), 0.1), np.full((2, 2), 0.4)
    vmax = shared_vmax([low, high], [mask, mask])
    assert vmax == pytest.approx(0.4)
    # with a shared scale the low-error grid is darker; with its own scale it would look identical
    assert error_heatmap(low, mask, 2, vmax=vmax).sum() < error_heatmap(high, mask, 2, vmax=vmax).sum()
    assert (error_heatmap(low, mask, 2) == error_heatmap(high, mask, 2)).all()


def test_shared_vmax_ignores_visible_patches_and_stays_positive():
    error = np.array([[9.0, 0.0]])
    assert shared_vmax([error], [np.array([[0, 1]])]) == pytest.approx(1e-12)
    assert shared_vmax([error], [np.array([[1, 1]])]) == pytest.approx(9.0)


@pytest.mark.parametrize(
    ("error", "mask", "size", "vmax", "match"),
    [
        (np.zeros(4), np.zeros(4), 8, None, "grid"),
        (np.zeros((2, 2)), np.zeros((3, 3)), 8, None, "does not match"),
        (np.zeros((2, 2)), np.ones((2, 2)), 7, None, "multiple"),
        (np.zeros((2, 2)), np.ones((2, 2)), 8, -1.0, "vmax"),
    ],
)
def test_heatmap_rejects_bad_arguments(error, mask, size, vmax, match):
    with pytest.raises(ValueError, match=match):
        error_heatmap(error, mask, size, vmax=vmax)


def test_difference_heatmap_is_white_at_zero_blue_below_and_red_above():
    diff = np.array([[-2.0, 0.0], [1.0, np.nan]])
    mask = np.array([[1, 1], [1, 0]])
    img = difference_heatmap(diff, mask, 2)  # one pixel per patch; limit 2
    below, zero, above, visible = img[0, 0], img[0, 1], img[1, 0], img[1, 1]
    assert below[2] > below[0]  # blue: b lower
    assert above[0] > above[2]  # red: a lower
    assert zero.min() > 230  # the middle of the scale is (near) white
    assert (visible == VISIBLE_GREY).all()
    # one limit for two maps: the smaller difference is paler at the same sign
    assert symmetric_limit([diff, diff / 4], [mask, mask]) == pytest.approx(2.0)
    pale = difference_heatmap(diff / 4, mask, 2, limit=2.0)
    assert pale[0, 0].min() > below.min()


def test_a_scale_needs_vmin_below_vmax():
    with pytest.raises(ValueError, match="vmin < vmax"):
        error_heatmap(np.ones((2, 2)), np.ones((2, 2)), 2, vmin=1.0, vmax=1.0)
