"""Exactness against an independent implementation: transformers' ViTMAEForPreTraining with the same weights and
the same noise gives the same masks, predictions within 1e-5 and per-image losses within 1e-6 relative."""

from __future__ import annotations

import pytest
import torch

from mae_core.modeling.masking import noise_for_seeds
from mae_core.modeling.model import MAEConfig
from tests.conftest import TINY_CONFIG, make_model
from tests.hf_reference import hf_twin, official_to_hf

# patch 16 on a 48 px image (3 x 3 grid), 3 encoder heads, a decoder wider than its head count suggests, MLP ratio 2
ODD_CONFIG = MAEConfig(
    img_size=48,
    patch_size=16,
    embed_dim=48,
    depth=2,
    num_heads=3,
    decoder_embed_dim=24,
    decoder_depth=2,
    decoder_num_heads=4,
    mlp_ratio=2.0,
)
NORM_PIX_CONFIG = MAEConfig(**{**TINY_CONFIG.to_dict(), "norm_pix_loss": True})
RATIOS = (0.25, 0.5, 0.75)
SEEDS = (0, 1, 2)


def _compare(config: MAEConfig, seed: int) -> None:
    model = make_model(config, seed=seed)
    twin = hf_twin(model)
    torch.manual_seed(100 + seed)
    x = torch.randn(len(SEEDS), 3, config.img_size, config.img_size)
    noise = noise_for_seeds(SEEDS, config.num_patches)
    for ratio in RATIOS:
        twin.config.mask_ratio = ratio
        with torch.inference_mode():
            ours = model(x, ratio, noise)
            theirs = twin(x, noise=noise)
        assert torch.equal(ours.mask, theirs.mask), ratio
        assert torch.equal(ours.ids_restore, theirs.ids_restore), ratio
        torch.testing.assert_close(ours.pred, theirs.logits, atol=1e-5, rtol=0)
        # transformers returns the batch scalar; every image masks the same count, so it is the per-image mean
        torch.testing.assert_close(ours.loss.mean(), theirs.loss, rtol=1e-6, atol=0)
        for n in range(len(SEEDS)):  # at batch 1 the official scalar IS the per-image loss
            with torch.inference_mode():
                single = twin(x[n : n + 1], noise=noise[n : n + 1])
            torch.testing.assert_close(ours.loss[n], single.loss, rtol=1e-6, atol=0)


@pytest.mark.parametrize("config", [TINY_CONFIG, ODD_CONFIG, NORM_PIX_CONFIG], ids=["tiny-p8", "odd-p16", "norm-pix"])
def test_matches_transformers(config):
    _compare(config, seed=0)


def test_mapping_covers_every_parameter_once():
    model = make_model(ODD_CONFIG)
    mapped = official_to_hf(model.state_dict())
    twin_names = set(hf_twin(model).state_dict())
    assert set(mapped) == twin_names
    # qkv is split row-wise in thirds: q first
    qkv = model.state_dict()["blocks.1.attn.qkv.weight"]
    assert torch.equal(mapped["vit.layers.1.attention.q_proj.weight"], qkv[:48])
    assert torch.equal(mapped["vit.layers.1.attention.v_proj.weight"], qkv[96:])


def test_different_weights_are_detected():
    # guards the comparison itself: a twin of another random model must NOT match
    model, other = make_model(TINY_CONFIG, seed=0), make_model(TINY_CONFIG, seed=1)
    twin = hf_twin(other)
    x = torch.randn(1, 3, 32, 32)
    noise = noise_for_seeds([0], 16)
    twin.config.mask_ratio = 0.5
    with torch.inference_mode():
        assert (model(x, 0.5, noise).pred - twin(x, noise=noise).logits).abs().max() > 1e-3
