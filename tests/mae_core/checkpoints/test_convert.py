"""convert.py: the three transformers spellings -> official names, architecture from tensors, strict shape checks."""

from __future__ import annotations

import re

import pytest
import torch

from mae_core.checkpoints.convert import (
    EncoderOnlyError,
    StateDictMismatchError,
    UnknownArchitectureError,
    check_shapes,
    detect_layout,
    hints_from_transformers_config,
    infer_config,
    strip_prefix,
    transformers_plan,
    transformers_to_official,
)
from mae_core.modeling.model import PRESETS, MaskedAutoencoderViT
from tests.conftest import TINY_CONFIG
from tests.fake_caches import tiny_transformers_model

LEGACY_INNER = {
    "attention.q_proj": "attention.attention.query",
    "attention.k_proj": "attention.attention.key",
    "attention.v_proj": "attention.attention.value",
    "attention.o_proj": "attention.output.dense",
    "mlp.fc1": "intermediate.dense",
    "mlp.fc2": "output.dense",
}


def _legacy(key: str, decoder_prefix: str) -> str:
    """transformers 5 in-memory name -> the Hub files' legacy name (decoder under ``decoder_prefix``)."""
    key = re.sub(r"^vit\.layers\.", "vit.encoder.layer.", key)
    key = re.sub(r"^decoder\.decoder_layers\.", decoder_prefix, key)
    for new, old in LEGACY_INNER.items():
        key = key.replace(f".{new}.", f".{old}.")
    return key


def _shapes(state):
    return {k: tuple(v.shape) for k, v in state.items()}


@pytest.fixture(scope="module")
def hf_state():
    return tiny_transformers_model().state_dict()


@pytest.mark.parametrize("decoder_prefix", [None, "decoder.decoder_layers.", "decoder.decoder_encoder.layer."])
def test_all_three_spellings_convert_to_the_same_official_state(hf_state, decoder_prefix):
    state = hf_state if decoder_prefix is None else {_legacy(k, decoder_prefix): v for k, v in hf_state.items()}
    if decoder_prefix is not None:
        assert any(".attention.attention.query." in k for k in state)
    official = transformers_to_official(state)
    model = MaskedAutoencoderViT(TINY_CONFIG)
    model.load_state_dict(official, strict=True)  # every official name present, right shapes
    q = hf_state["vit.layers.1.attention.q_proj.weight"]
    v = hf_state["vit.layers.1.attention.v_proj.weight"]
    qkv = official["blocks.1.attn.qkv.weight"]  # [3D, D], rows: query, key, value
    assert torch.equal(qkv[:32], q) and torch.equal(qkv[64:], v)
    assert torch.equal(official["decoder_blocks.0.mlp.fc2.bias"], hf_state["decoder.decoder_layers.0.mlp.fc2.bias"])
    assert torch.equal(official["pos_embed"], hf_state["vit.embeddings.position_embeddings"])


def test_plan_rejects_unknown_keys_and_incomplete_qkv(hf_state):
    with pytest.raises(StateDictMismatchError, match="vit.pooler.dense.weight"):
        transformers_plan([*hf_state, "vit.pooler.dense.weight"])
    without_key = [k for k in hf_state if k != "vit.layers.0.attention.k_proj.weight"]
    with pytest.raises(StateDictMismatchError, match="blocks.0.attn.qkv.weight"):
        transformers_plan(without_key)


def test_detect_layout():
    official = MaskedAutoencoderViT(TINY_CONFIG).state_dict()
    assert detect_layout(official) == "official"
    assert detect_layout([k for k in official if not k.startswith(("decoder", "mask_token"))]) == "encoder-only"
    assert detect_layout(["vit.embeddings.cls_token", "decoder.mask_token"]) == "transformers"
    assert detect_layout(["embeddings.cls_token", "encoder.layer.0.output.dense.weight"]) == "encoder-only"
    assert detect_layout(["fc.weight"]) == "unknown"


@pytest.mark.parametrize("preset", list(PRESETS))
def test_infer_official_presets_from_shapes_alone(preset):
    with torch.device("meta"):  # shapes only: no memory for ViT-H
        state = MaskedAutoencoderViT(PRESETS[preset]).state_dict()
    assert infer_config(_shapes(state)) == PRESETS[preset]


def test_infer_needs_heads_for_unofficial_widths():
    shapes = _shapes(MaskedAutoencoderViT(TINY_CONFIG).state_dict())
    with pytest.raises(UnknownArchitectureError, match="heads"):
        infer_config(shapes)
    assert infer_config(shapes, {"num_heads": 4, "decoder_num_heads": 2}) == TINY_CONFIG
    hints = hints_from_transformers_config(
        {"num_attention_heads": 4, "decoder_num_attention_heads": 2, "norm_pix_loss": True}
    )
    assert infer_config(shapes, hints).norm_pix_loss is True


def test_infer_refuses_encoder_only():
    shapes = _shapes(MaskedAutoencoderViT(TINY_CONFIG).state_dict())
    encoder = {k: v for k, v in shapes.items() if not k.startswith(("decoder", "mask_token"))}
    with pytest.raises(EncoderOnlyError, match="no decoder"):
        infer_config(encoder)


def test_check_shapes_names_missing_unexpected_and_wrong():
    expected = _shapes(MaskedAutoencoderViT(TINY_CONFIG).state_dict())
    got = dict(expected)
    del got["decoder_norm.bias"]
    got["extra.weight"] = (1,)
    got["cls_token"] = (1, 1, 8)
    with pytest.raises(StateDictMismatchError) as info:
        check_shapes(got, expected)
    message = str(info.value)
    assert "decoder_norm.bias" in message and "extra.weight" in message and "cls_token" in message
    check_shapes(expected, expected)


def test_strip_prefix_only_when_every_key_has_it():
    assert list(strip_prefix({"module.a": 1, "module.b": 2})) == ["a", "b"]
    assert list(strip_prefix({"module.a": 1, "b": 2})) == ["module.a", "b"]
