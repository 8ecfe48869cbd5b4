"""patchify/unpatchify: shapes, the official (p, q, c) pixel order, round trips and errors."""

from __future__ import annotations

import pytest
import torch

from mae_core.modeling.patches import mask_to_pixels, paste, patchify, unpatchify


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


def test_mask_to_pixels_blanks_exactly_the_removed_patches():
    torch.manual_seed(2)
    imgs = torch.randn(2, 3, 24, 32)  # 3 x 4 grid of 8 px patches
    mask = (torch.rand(2, 12) > 0.5).float()  # 1 = removed
    pixels = mask_to_pixels(mask, 8, (3, 4))
    assert pixels.shape == (2, 1, 24, 32) and pixels.dtype == mask.dtype
    # the same as unpatchifying the mask spread over every value of its patch (the official demo's way)
    spread = unpatchify(mask.unsqueeze(-1).expand(-1, -1, 8 * 8 * 3), 8, (3, 4))
    assert torch.equal(imgs * (1 - pixels), imgs * (1 - spread))
    assert torch.equal(mask_to_pixels(mask[1], 8, (3, 4)), pixels[1:])  # one row [L] -> [1, 1, H, W]


def test_mask_to_pixels_blocks_and_errors():
    square = mask_to_pixels(torch.tensor([[0, 1, 2, 3]]), 2)  # 2 x 2 grid by default
    assert square[0, 0].tolist() == [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]]
    tall = mask_to_pixels(torch.tensor([5, 6]), (3, 1), (1, 2))  # blocks 3 rows by 1 column
    assert tall[0, 0].tolist() == [[5, 6], [5, 6], [5, 6]]
    with pytest.raises(ValueError, match="square grid"):
        mask_to_pixels(torch.zeros(1, 15), 8)
    with pytest.raises(ValueError, match=r"\[N, L\]"):
        mask_to_pixels(torch.zeros(1, 2, 3), 8)


def test_paste_puts_the_prediction_in_the_removed_patches_only():
    torch.manual_seed(3)
    imgs = torch.randn(2, 3, 24, 32)  # 3 x 4 grid of 8 px patches
    pred = torch.randn(2, 12, 8 * 8 * 3)  # [N, L, p*p*3]
    mask = (torch.rand(2, 12) > 0.5).float()  # 1 = removed
    pasted = patchify(paste(imgs, unpatchify(pred, 8, (3, 4)), mask_to_pixels(mask, 8, (3, 4))), 8)
    removed = mask.bool()
    assert torch.equal(pasted[removed], pred[removed])  # every removed patch is the prediction, exactly
    assert torch.equal(pasted[~removed], patchify(imgs, 8)[~removed])  # every visible patch is the image's own
