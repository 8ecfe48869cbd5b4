"""reconstruct(): the official demo's panels, metrics consistent with the model, seeds that mean something."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mae_core.masking import mask_noise
from mae_core.preprocess import preprocess, to_uint8
from mae_core.reconstruct import reconstruct


def test_panels_follow_the_official_demo(tiny_model, rgb_image):
    rec = reconstruct(tiny_model, rgb_image, 0.75, seed=2)
    x = preprocess(rgb_image, 32).unsqueeze(0)
    with torch.no_grad():
        out = tiny_model(x, 0.75, mask_noise(2, 16))
    y = tiny_model.unpatchify(out.pred)
    mask = tiny_model.unpatchify(out.mask.unsqueeze(-1).repeat(1, 1, 8 * 8 * 3))
    assert np.array_equal(rec.original, to_uint8(x[0]))
    assert np.array_equal(rec.masked, to_uint8((x * (1 - mask))[0]))
    assert np.array_equal(rec.reconstruction, to_uint8(y[0]))
    assert np.array_equal(rec.reconstruction_visible, to_uint8((x * (1 - mask) + y * mask)[0]))
    assert rec.metrics.loss == pytest.approx(float(out.loss[0]), rel=1e-6)
    assert rec.mask.shape == (4, 4) and rec.mask.sum() == rec.metrics.masked_patches == 12


def test_metrics_match_the_error_map(tiny_model, rgb_image):
    rec = reconstruct(tiny_model, rgb_image, 0.5, seed=0)
    removed = rec.mask.astype(bool)
    assert rec.metrics.mse == pytest.approx(float(rec.patch_error[removed].mean()), rel=1e-5)
    assert rec.metrics.psnr == pytest.approx(10 * np.log10(1 / rec.metrics.mse), rel=1e-6)


def test_same_seed_same_mask_other_seed_other_mask(tiny_model, rgb_image):
    a = reconstruct(tiny_model, rgb_image, 0.75, seed=1)
    b = reconstruct(tiny_model, rgb_image, 0.75, seed=1)
    c = reconstruct(tiny_model, rgb_image, 0.75, seed=2)
    assert np.array_equal(a.mask, b.mask) and a.metrics == b.metrics
    assert not np.array_equal(a.mask, c.mask)


def test_bad_ratio_is_a_value_error(tiny_model, rgb_image):
    with pytest.raises(ValueError, match="1.0"):
        reconstruct(tiny_model, rgb_image, 1.0)
