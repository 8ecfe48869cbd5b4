"""uncertainty.py: mean, spread and coverage over K masks equal the per-seed forwards computed one by one, in one
packed forward per call; bad input is a one-line ValueError."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mae_core import MaskUncertainty, mask_uncertainty
from mae_core.evaluation import seed_batch
from mae_core.evaluation.preprocess import denormalize, preprocess
from mae_core.evaluation.reconstruct import reconstruct
from mae_core.evaluation.uncertainty import mean_spread, spread_over_masks
from mae_core.modeling.masking import mask_noise
from mae_core.modeling.model import MAEConfig
from mae_core.modeling.patches import mask_to_pixels
from tests.conftest import TINY_CONFIG, make_image, make_model


def _one_by_one(model, image, ratio, seeds, strategy="random"):
    """[K, 3, H, W] reconstructions in [0, 1] and [K, 1, H, W] removed pixels, one model forward per seed."""
    config = model.config
    x = preprocess(image, config.img_size).unsqueeze(0)
    recons, removed = [], []
    with torch.inference_mode():
        for seed in seeds:
            out = model(x, mask_ratio=ratio, noise=mask_noise(seed, config.num_patches, strategy=strategy))
            recons.append(denormalize(model.unpatchify(out.pred)).clamp(0, 1)[0])
            removed.append(mask_to_pixels(out.mask, config.patch_size)[0])
    return torch.stack(recons).double(), torch.stack(removed).double()


def test_mean_spread_and_coverage_equal_the_seeds_computed_one_by_one(tiny_model):
    image = make_image(seed=3)
    seeds = [0, 1, 2, 5, 9, 11]
    result = mask_uncertainty(tiny_model, image, 0.5, seeds)
    assert isinstance(result, MaskUncertainty)
    recons, removed = _one_by_one(tiny_model, image, 0.5, seeds)
    size = tiny_model.config.img_size
    coverage = removed.sum(0)[0]  # [H, W]
    assert result.coverage.shape == (size, size) and result.coverage.dtype == np.int32
    assert np.array_equal(result.coverage, coverage.int().numpy())
    assert np.array_equal(result.masks.sum(0).repeat(8, 0).repeat(8, 1), result.coverage)  # patch 8 in TINY_CONFIG
    covered = coverage > 0
    mean = (recons * removed).sum(0) / coverage.clamp_min(1)
    std = ((((recons - mean) ** 2) * removed).sum(0) / coverage.clamp_min(1)).mean(0).sqrt()
    assert result.mean.shape == (size, size, 3) and result.spread.shape == (size, size)
    np.testing.assert_allclose(result.mean[covered.numpy()], mean.permute(1, 2, 0)[covered].numpy(), atol=1e-5)
    np.testing.assert_allclose(result.spread[covered.numpy()], std[covered].numpy(), atol=1e-5)
    assert np.isnan(result.spread[~covered.numpy()]).all() and np.isnan(result.mean[~covered.numpy()]).all()
    # a pixel removed by a single mask has no spread; the image's mean spread counts pixels removed twice or more
    assert (result.spread[result.coverage == 1] == 0).all()
    twice = coverage >= 2
    assert result.mean_spread == pytest.approx(float(std[twice].mean()), abs=1e-6)
    assert result.mean_spread > 0 and result.num_masks == len(seeds) and result.seeds == tuple(seeds)


def test_default_is_sixteen_masks_in_one_packed_forward(tiny_model, monkeypatch):
    calls = []
    original = seed_batch.packed_forward

    def counting(weights, imgs, image_index, ratios, noise):
        calls.append(noise.shape[0])
        return original(weights, imgs, image_index, ratios, noise)

    monkeypatch.setattr(seed_batch, "packed_forward", counting)
    result = mask_uncertainty(tiny_model, make_image(), strategy="block")
    assert calls == [16]  # K seeds of one image as one batch
    assert result.seeds == tuple(range(16)) and result.strategy == "block" and result.mask_ratio == 0.75
    assert result.masks.shape == (16, 4, 4) and (result.masks.reshape(16, -1).sum(1) == 12).all()


def test_one_mask_leaves_the_visible_pixels_uncovered_and_no_mean_spread(tiny_model):
    result = mask_uncertainty(tiny_model, make_image(), 0.75, [4])
    assert set(np.unique(result.coverage)) == {0, 1}
    assert math.isnan(result.mean_spread)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seeds": []}, "seeds is empty"),
        ({"seeds": [1, 2, 1]}, "seed 1 is given more than once"),
        ({"seeds": [-1]}, "seed"),
        ({"mask_ratio": 1.0}, "ratio"),
        ({"strategy": "stripes"}, "stripes"),
        ({"strategy": "custom"}, "needs seeded masks \\(random, block or grid\\): a drawn mask is one mask"),
        ({"dtype": "float16"}, "float16"),
    ],
)
def test_bad_arguments_are_one_line_value_errors(tiny_model, kwargs, message):
    with pytest.raises(ValueError, match=message) as info:
        mask_uncertainty(tiny_model, make_image(), **kwargs)
    assert "\n" not in str(info.value)


def test_spread_over_masks_is_one_computation_for_any_number_of_groups():
    generator = torch.Generator().manual_seed(0)
    pixels = torch.randn(3, 5, 16, 4 * 4 * 3, generator=generator)  # [G, K, L, p*p*C]
    mask = (torch.rand(3, 5, 16, generator=generator) < 0.6).float()
    mask[1, :, 0] = 0.0  # a patch no mask of group 1 removed
    together = spread_over_masks(pixels, mask)
    for g in range(3):
        alone = spread_over_masks(pixels[g], mask[g])
        torch.testing.assert_close(together.spread[g], alone.spread, equal_nan=True)
        torch.testing.assert_close(together.mean[g], alone.mean, equal_nan=True)
        assert torch.equal(together.coverage[g], mask[g].sum(0))
    assert together.spread[1, 0].isnan().all() and together.mean[1, 0].isnan().all()
    # the image's mean spread: over the patches removed twice or more, every pixel of them counted once
    means = mean_spread(together.spread, together.coverage)
    for g in range(3):
        twice = together.coverage[g] >= 2
        assert float(means[g]) == pytest.approx(float(together.spread[g][twice].double().mean()), rel=1e-12)
    assert math.isnan(float(mean_spread(together.spread[:1], torch.ones(1, 16))))  # no patch removed twice


def test_the_image_mean_spread_equals_the_one_of_its_patches(tiny_model):
    """MaskUncertainty.mean_spread (per pixel) and mean_spread of the patch-space numbers (what the engine reports)
    are the same number."""
    image = make_image(seed=4)
    seeds = (2, 3, 4, 8, 9)
    result = mask_uncertainty(tiny_model, image, 0.75, seeds, strategy="grid")
    batch = seed_batch.run_seeds(tiny_model, image, 0.75, seeds, strategy="grid")
    stats = spread_over_masks(batch.pred, batch.mask)
    assert result.mean_spread == pytest.approx(float(mean_spread(stats.spread, stats.coverage)), rel=1e-9)


def test_a_norm_pix_models_spread_is_of_its_honest_reconstructions():
    """A norm-pix model predicts per-patch normalised pixels: its mean over masks is of the reconstructions
    reconstruct shows (de-normalised the honest way), not of the raw prediction read as pixels."""
    model = make_model(MAEConfig(**{**TINY_CONFIG.to_dict(), "norm_pix_loss": True}), seed=3)
    image = make_image(seed=6)
    seeds = [0, 1, 2, 3]
    result = mask_uncertainty(model, image, 0.5, seeds)
    shown = np.stack([reconstruct(model, image, 0.5, s, metrics=()).reconstruction for s in seeds]) / 255.0
    removed = result.masks.repeat(8, 1).repeat(8, 2).astype(bool)  # [K, H, W], patch 8 in TINY_CONFIG
    covered = result.coverage > 0
    mean = (shown * removed[..., None]).sum(0) / np.maximum(result.coverage, 1)[..., None]
    np.testing.assert_allclose(result.mean[covered], mean[covered], atol=1.01 / 255)  # panels are whole levels
