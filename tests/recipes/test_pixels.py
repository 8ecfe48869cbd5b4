"""The composite: visible pixels kept, the prediction pasted into the removed patches."""

from __future__ import annotations

import torch

from mae_core.modeling.patches import patchify
from recipes.tiny_pair.pixels import composite, reconstruction
from tests.conftest import make_model


def test_composite_keeps_visible_pixels_and_pastes_the_prediction():
    model = make_model(seed=0)
    p, n = model.config.patch_size, model.num_patches
    imgs = torch.zeros(1, 3, model.config.img_size, model.config.img_size)
    target = torch.ones_like(imgs)
    mask = (torch.arange(n) % 2).float().view(1, n)
    pasted = patchify(composite(model, imgs, patchify(target, p), mask), p)  # [1, L, p*p*3]
    assert pasted[0, mask[0] == 1].eq(1).all() and pasted[0, mask[0] == 0].eq(0).all()


def test_reconstruction_is_the_inverse_of_patchify_in_float32():
    model = make_model(seed=0)
    imgs = torch.rand(2, 3, model.config.img_size, model.config.img_size, generator=torch.Generator().manual_seed(1))
    pred = patchify(imgs, model.config.patch_size).to(torch.bfloat16)
    out = reconstruction(model, pred)
    assert out.dtype == torch.float32 and torch.equal(out, imgs.to(torch.bfloat16).float())
