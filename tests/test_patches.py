"""patchify/unpatchify: shapes, the official (p, q, c) pixel order, round trips and errors."""

from __future__ import annotations

import pytest
import torch

from mae_core.patches import patchify, unpatchify


def test_patchify_shape_and_pixel_order():
    torch.manual_seed(0)
    imgs = torch.randn(2, 3, 24, 32)  # 3 x 4 grid of 8 px patches
    x = patchify(imgs, 8)
    assert x.shape == (2, 12, 8 * 8 * 3)
    # patch k = row * 4 + col; inside, pixel (pi, qi) channel c sits at (pi * 8 + qi) * 3 + c
    for n, row, col, pi, qi, c in ((0, 0, 0, 0, 0, 0), (1, 2, 3, 7, 5, 2), (0, 1, 2, 3, 6, 1)):
        assert x[n, row * 4 + col, (pi * 8 + qi) * 3 + c] == imgs[n, c, row * 8 + pi, col * 8 + qi]


@pytest.mark.parametrize(
    "shape, p, grid", [((2, 3, 32, 32), 8, None), ((1, 3, 24, 40), 8, (3, 5)), ((1, 1, 28, 28), 14, None)]
)
def test_round_trip(shape, p, grid):
    torch.manual_seed(1)
    imgs = torch.randn(shape)
    back = unpatchify(patchify(imgs, p), p, grid, channels=shape[1])
    assert torch.equal(back, imgs)


def test_patchify_rejects_indivisible_size():
    with pytest.raises(ValueError, match="30x32.*patch size 8"):
        patchify(torch.zeros(1, 3, 30, 32), 8)


def test_unpatchify_needs_grid_for_non_square():
    with pytest.raises(ValueError, match="square grid"):
        unpatchify(torch.zeros(1, 15, 192), 8)
