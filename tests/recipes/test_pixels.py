"""Pixel space: normalisation round trip, patch masks as pixel masks, composites."""

from __future__ import annotations

import torch

from mae_core.patches import patchify
from recipes.tiny_pair.pixels import composite, normalize, pixel_mask, to_unit
from tests.conftest import make_model


def test_normalize_and_to_unit_are_inverse_on_unit_pixels():
    unit = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(to_unit(normalize(unit)), unit, atol=1e-6)
    assert to_unit(torch.full((1, 3, 2, 2), 50.0)).max() == 1.0


def test_pixel_mask_expands_each_patch():
    mask = torch.tensor([[0.0, 1.0, 1.0, 0.0]])  # 2x2 grid, patches 1 and 2 removed
    pixels = pixel_mask(mask, 3, 2)
    assert pixels.shape == (1, 1, 6, 6)
    assert pixels[0, 0, :3, 3:].eq(1).all() and pixels[0, 0, 3:, :3].eq(1).all()
    assert pixels[0, 0, :3, :3].eq(0).all() and pixels[0, 0, 3:, 3:].eq(0).all()


def test_composite_keeps_visible_pixels_and_pastes_the_prediction():
    model = make_model(seed=0)
    p, n = model.config.patch_size, model.num_patches
    imgs = torch.zeros(1, 3, model.config.img_size, model.config.img_size)
    target = torch.ones_like(imgs)
    mask = (torch.arange(n) % 2).float().view(1, n)
    pasted = patchify(composite(model, imgs, patchify(target, p), mask), p)  # [1, L, p*p*3]
    assert pasted[0, mask[0] == 1].eq(1).all() and pasted[0, mask[0] == 0].eq(0).all()
