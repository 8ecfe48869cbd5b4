"""Attention probabilities against an independent implementation (transformers' ViTMAEForPreTraining, eager
attention, ``output_attentions=True``; its decoder's attention read by hooks on its attention modules) with the same
weights and noise; the rollout's definition; the maps on the patch grid; recording leaves the forward pass as it is."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mae_core.evaluation.preprocess import preprocess
from mae_core.evaluation.reconstruct import reconstruct
from mae_core.modeling.attention import attention_maps, record_attention, rollout
from mae_core.modeling.masking import mask_noise, noise_for_seeds, num_kept
from tests.conftest import TINY_CONFIG, make_image, make_model
from tests.hf_reference import hf_twin
from tests.mae_core.modeling.test_equivalence import ODD_CONFIG

SEEDS = (0, 1, 2)
TOL = {"atol": 1e-5, "rtol": 0}


def _hf_attention(twin, x: torch.Tensor, noise: torch.Tensor):
    """(encoder, decoder) attention of transformers' model: per layer [N, heads, T, T]."""
    decoder: list[torch.Tensor] = []
    hooks = [
        layer.attention.register_forward_hook(lambda _m, _a, out: decoder.append(out[1]))
        for layer in twin.decoder.decoder_layers
    ]
    try:
        with torch.inference_mode():
            out = twin(x, noise=noise, output_attentions=True)
    finally:
        for hook in hooks:
            hook.remove()
    return out, list(out.attentions), decoder


@pytest.mark.parametrize("config", [TINY_CONFIG, ODD_CONFIG], ids=["tiny-p8", "odd-p16"])
@pytest.mark.parametrize("ratio", [0.25, 0.75])
def test_probabilities_match_transformers(config, ratio):
    model = make_model(config, seed=3)
    twin = hf_twin(model, mask_ratio=ratio)
    torch.manual_seed(7)
    x = torch.randn(len(SEEDS), 3, config.img_size, config.img_size)
    noise = noise_for_seeds(SEEDS, config.num_patches)
    with torch.inference_mode(), record_attention(model) as record:
        ours = model(x, ratio, noise)
    theirs, encoder, decoder = _hf_attention(twin, x, noise)
    assert torch.equal(ours.ids_restore, theirs.ids_restore)
    assert len(record.encoder) == len(encoder) == config.depth
    assert len(record.decoder) == len(decoder) == config.decoder_depth
    kept = num_kept(config.num_patches, ratio)
    assert encoder[0].shape == (len(SEEDS), config.num_heads, 1 + kept, 1 + kept)
    for mine, reference in zip(record.encoder + record.decoder, encoder + decoder):
        assert mine.shape == reference.shape
        torch.testing.assert_close(mine, reference, **TOL)
    # the one-image maps slice the same numbers: decoder rows = removed patches, columns = class + visible tokens
    for n in range(len(SEEDS)):
        maps = attention_maps(record, ours.ids_restore, kept, (config.grid_size,) * 2, index=n)
        np.testing.assert_allclose(maps.encoder, torch.stack(encoder)[:, n].numpy(), atol=1e-5, rtol=0)
        removed = np.flatnonzero(theirs.mask[n].numpy())
        assert np.array_equal(maps.removed, removed)
        columns = np.concatenate([[0], maps.visible + 1])
        expected = torch.stack(decoder)[:, n].numpy()[:, :, removed + 1][:, :, :, columns]
        np.testing.assert_allclose(maps.decoder, expected, atol=1e-5, rtol=0)


def test_reconstruct_attention_matches_transformers():
    # the library call a user makes: reconstruct(..., attentions=True) on an image, a seed's mask
    model = make_model(TINY_CONFIG, seed=4)
    image = make_image(seed=2)
    rec = reconstruct(model, image, 0.5, seed=11, attentions=True)
    maps = rec.attention
    x = preprocess(image, TINY_CONFIG.img_size).unsqueeze(0)
    theirs, encoder, decoder = _hf_attention(hf_twin(model, 0.5), x, mask_noise(11, TINY_CONFIG.num_patches))
    np.testing.assert_allclose(maps.encoder, torch.stack(encoder)[:, 0].numpy(), atol=1e-5, rtol=0)
    assert np.array_equal(np.sort(maps.visible), np.flatnonzero(rec.mask.reshape(-1) == 0))
    assert np.array_equal(maps.removed, np.flatnonzero(rec.mask.reshape(-1)))
    assert maps.decoder.shape == (TINY_CONFIG.decoder_depth, TINY_CONFIG.decoder_num_heads, 8, 9)
    assert reconstruct(model, image, 0.5, seed=11).attention is None


def test_recording_changes_nothing_and_leaves_no_hook():
    model = make_model(TINY_CONFIG)
    x = torch.randn(2, 3, 32, 32)
    noise = noise_for_seeds([0, 1], TINY_CONFIG.num_patches)
    with torch.inference_mode():
        plain = model(x, 0.75, noise)
        with record_attention(model) as record:
            recorded = model(x, 0.75, noise)
    assert torch.equal(plain.pred, recorded.pred)
    assert len(record.encoder) == TINY_CONFIG.depth
    blocks = [*model.blocks, *model.decoder_blocks]
    assert all(not block.attn._forward_pre_hooks for block in blocks)
    with torch.inference_mode():
        model(x, 0.75, noise)
    assert len(record.encoder) == TINY_CONFIG.depth  # nothing recorded after the context


def test_rollout_definition():
    rng = np.random.default_rng(0)
    probs = rng.random((3, 2, 5, 5)).astype(np.float32)
    probs /= probs.sum(axis=-1, keepdims=True)
    rolled = rollout(probs)
    np.testing.assert_allclose(rolled.sum(axis=-1), 1.0, atol=1e-6)
    # one layer: half the head-mean plus half the identity
    np.testing.assert_allclose(rollout(probs[:1]), 0.5 * probs[0].mean(axis=0) + 0.5 * np.eye(5), atol=1e-6)
    # layers multiply later-on-the-left: layer 2's mixing applied after layer 1's
    first, second = (0.5 * p.mean(axis=0) + 0.5 * np.eye(5) for p in probs[:2])
    np.testing.assert_allclose(rollout(probs[:2]), second @ first, atol=1e-6)
    # tokens that only look at themselves roll out to the identity
    np.testing.assert_allclose(rollout(np.broadcast_to(np.eye(5), (4, 2, 5, 5))), np.eye(5), atol=1e-7)


def test_maps_on_the_grid():
    model = make_model(TINY_CONFIG, seed=1)
    rec = reconstruct(model, make_image(), 0.75, seed=5, attentions=True)
    maps, removed = rec.attention, rec.mask.astype(bool)
    for view in (maps.encoder_map(), maps.encoder_map(layer=1, head=2), maps.encoder_map(int(maps.visible[0]), 0)):
        assert view.grid.shape == (4, 4)
        assert np.isnan(view.grid[removed]).all() and not np.isnan(view.grid[~removed]).any()
        assert np.nansum(view.grid) + view.class_token == pytest.approx(1.0, abs=1e-5)
    assert maps.encoder_map().source == "encoder rollout" and maps.encoder_map().query == "class token"
    head = maps.encoder_map(layer=1, head=2)
    assert head.class_token == pytest.approx(float(maps.encoder[1, 2, 0, 0]))
    patch = int(maps.removed[0])
    decoded = maps.decoder_map(patch, layer=0, head=1)
    assert decoded.query == f"patch {patch}" and decoded.source == "decoder layer 0, head 1"
    assert 0 < np.nansum(decoded.grid) + decoded.class_token <= 1.0 + 1e-6
    assert maps.decoder_map(patch, layer=-1).source == "decoder layer 0, mean of heads"  # 1 layer: -1 is 0
    # where_looked picks the part holding the patch's token: decoder for a removed patch, encoder otherwise
    np.testing.assert_array_equal(maps.where_looked(patch, 0, 1).grid, decoded.grid, strict=True)
    assert maps.where_looked(int(maps.visible[1]), -1).source == "encoder layer 1, mean of heads"
    assert maps.where_looked().source == "encoder rollout"
    with pytest.raises(ValueError, match="has no rollout"):
        maps.where_looked(patch)
    with pytest.raises(ValueError, match="was removed"):
        maps.encoder_map(patch)
    with pytest.raises(ValueError, match="was visible"):
        maps.decoder_map(int(maps.visible[0]), layer=0)
    with pytest.raises(ValueError, match="layer 2 is out of range"):
        maps.encoder_map(layer=2)
    with pytest.raises(ValueError, match="outside the 4x4 grid"):
        maps.encoder_map(16)
    with pytest.raises(ValueError, match="rollout averages the heads"):
        maps.encoder_map(head=0)
