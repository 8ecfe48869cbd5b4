"""The model: shapes, official names and parameter counts, the loss formula, determinism and batch independence."""

from __future__ import annotations

import pytest
import torch

from mae_core.modeling.masking import mask_noise, noise_for_seeds
from mae_core.modeling.model import PRESETS, MAEConfig, build_model
from tests.conftest import TINY_CONFIG, make_model

OFFICIAL_PARAMETERS = {
    "mae_vit_base_patch16": (111_907_840, 254),
    "mae_vit_large_patch16": (329_541_888, 398),
    "mae_vit_huge_patch14": (657_074_508, 494),
}


@pytest.mark.parametrize("name", sorted(OFFICIAL_PARAMETERS))
def test_preset_parameter_counts(name):
    with torch.device("meta"):  # shapes only: no memory, no init cost
        model = build_model(name)
    state = model.state_dict()
    count, tensors = OFFICIAL_PARAMETERS[name]
    assert sum(t.numel() for t in state.values()) == count
    assert len(state) == tensors


def test_official_state_dict_names_and_shapes():
    with torch.device("meta"):
        state = build_model("mae_vit_large_patch16").state_dict()
    expected = {
        "cls_token": (1, 1, 1024),
        "pos_embed": (1, 197, 1024),
        "patch_embed.proj.weight": (1024, 3, 16, 16),
        "blocks.23.attn.qkv.weight": (3072, 1024),
        "blocks.0.mlp.fc1.weight": (4096, 1024),
        "decoder_embed.weight": (512, 1024),
        "mask_token": (1, 1, 512),
        "decoder_pos_embed": (1, 197, 512),
        "decoder_blocks.7.norm2.bias": (512,),
        "decoder_pred.weight": (768, 512),
        "norm.weight": (1024,),
    }
    for name, shape in expected.items():
        assert tuple(state[name].shape) == shape, name


def test_forward_shapes_and_masked_counts(tiny_model):
    x = torch.randn(3, 3, 32, 32)
    with torch.inference_mode():
        out = tiny_model(x, mask_ratio=0.75, noise=noise_for_seeds([0, 1, 2], 16))
    assert out.loss.shape == (3,)
    assert out.pred.shape == (3, 16, 8 * 8 * 3)
    assert out.mask.shape == (3, 16) and out.ids_restore.shape == (3, 16)
    assert torch.equal(out.mask.sum(dim=1), torch.full((3,), 12.0))


def test_loss_is_the_official_formula_per_image(tiny_model):
    torch.manual_seed(3)
    x = torch.randn(2, 3, 32, 32)
    with torch.inference_mode():
        out = tiny_model(x, mask_ratio=0.5, noise=noise_for_seeds([4, 5], 16))
    target = tiny_model.patchify(x)
    per_patch = ((out.pred - target) ** 2).mean(dim=-1)
    expected = (per_patch * out.mask).sum(dim=1) / out.mask.sum(dim=1)
    torch.testing.assert_close(out.loss, expected, rtol=1e-6, atol=0)
    # for N = 1 the per-image loss is the official batch scalar
    batch_scalar = (per_patch * out.mask).sum() / out.mask.sum()
    torch.testing.assert_close(out.loss.mean(), batch_scalar, rtol=1e-6, atol=0)


def test_norm_pix_loss_uses_per_patch_normalised_target():
    model = make_model(MAEConfig(**{**TINY_CONFIG.to_dict(), "norm_pix_loss": True}))
    x = torch.randn(1, 3, 32, 32)
    target = model.patch_target(x)
    torch.testing.assert_close(target.mean(dim=-1), torch.zeros(1, 16), atol=1e-5, rtol=0)
    with torch.inference_mode():
        out = model(x, 0.75, mask_noise(0, 16))
    expected = (((out.pred - target) ** 2).mean(-1) * out.mask).sum() / out.mask.sum()
    torch.testing.assert_close(out.loss[0], expected, rtol=1e-6, atol=0)


def test_batch_independence(tiny_model):
    torch.manual_seed(4)
    x = torch.randn(3, 3, 32, 32)
    noise = noise_for_seeds([7, 8, 9], 16)
    with torch.inference_mode():
        batch = tiny_model(x, 0.6, noise)
        for n in range(3):
            single = tiny_model(x[n : n + 1], 0.6, noise[n : n + 1])
            torch.testing.assert_close(single.pred[0], batch.pred[n], atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(single.loss[0], batch.loss[n], atol=0, rtol=1e-5)


def test_without_noise_draws_like_the_official_demo(tiny_model):
    x = torch.randn(1, 3, 32, 32)
    with torch.inference_mode(), torch.random.fork_rng():
        torch.manual_seed(2)
        implicit = tiny_model(x, 0.75)
    with torch.inference_mode():
        explicit = tiny_model(x, 0.75, mask_noise(2, 16))
    assert torch.equal(implicit.mask, explicit.mask)
    assert torch.equal(implicit.pred, explicit.pred)


def test_pos_embed_is_fixed_sincos(tiny_model):
    assert not tiny_model.pos_embed.requires_grad and not tiny_model.decoder_pos_embed.requires_grad
    assert not tiny_model.pos_embed[0, 0].any()


def test_config_validation():
    with pytest.raises(ValueError, match="not divisible by patch_size"):
        MAEConfig(img_size=30, patch_size=8)
    with pytest.raises(ValueError, match="not divisible by 5 heads"):
        MAEConfig(embed_dim=32, num_heads=5)
    with pytest.raises(ValueError, match="unknown architecture 'vit_tiny'"):
        build_model("vit_tiny")
    assert set(PRESETS) == set(OFFICIAL_PARAMETERS)


def test_overrides_build_a_different_architecture():
    model = build_model(TINY_CONFIG, decoder_depth=2, patch_size=16)
    assert model.config.num_patches == 4 and len(model.decoder_blocks) == 2


def test_own_grid_uses_the_stored_embeddings_and_other_grids_extend_them_exactly():
    model = make_model()
    side = TINY_CONFIG.grid_size
    encoder, decoder = model.position_embeddings((side, side))
    assert encoder is model.pos_embed and decoder is model.decoder_pos_embed
    wide_enc, wide_dec = model.position_embeddings((side, side + 3))  # [1, 1 + g_h (g_w + 3), D]
    # every patch of the model's grid keeps its stored vector on the wider grid (exact sin-cos, not interpolation)
    for stored, wide in ((model.pos_embed, wide_enc), (model.decoder_pos_embed, wide_dec)):
        assert wide.shape == (1, 1 + side * (side + 3), stored.shape[-1])
        assert torch.equal(stored[0, 0], wide[0, 0])  # the class token's zero row
        stored_grid = stored[0, 1:].reshape(side, side, -1)
        assert torch.equal(stored_grid, wide[0, 1:].reshape(side, side + 3, -1)[:, :side])


@pytest.mark.parametrize("height, width", [(24, 48), (48, 16), (32, 32)])
def test_forward_at_other_sizes(height, width):
    model = make_model()
    p = TINY_CONFIG.patch_size
    grid = (height // p, width // p)
    x = torch.randn(2, 3, height, width)
    noise = noise_for_seeds([0, 1], grid[0] * grid[1], "block", grid=grid)
    with torch.no_grad():
        out = model(x, 0.5, noise)
        drawn = model(x, 0.5)  # noise drawn for the input's own patch count
    assert out.pred.shape == (2, grid[0] * grid[1], p * p * 3) and out.mask.shape == (2, grid[0] * grid[1])
    assert drawn.mask.shape == out.mask.shape and out.mask.sum(dim=1).tolist() == [grid[0] * grid[1] // 2] * 2
    assert model.unpatchify(out.pred, grid).shape == (2, 3, height, width)
    assert torch.isfinite(out.loss).all()


@pytest.mark.parametrize("height, width", [(30, 32), (32, 12), (1032, 32)])
def test_sizes_off_the_patch_grid_or_over_the_limit_are_refused(height, width):
    with pytest.raises(ValueError, match=f"image size {height}x{width} is not supported.*multiple of the patch size"):
        make_model()(torch.zeros(1, 3, height, width))
