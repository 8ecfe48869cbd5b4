"""Test-only bridge to an independent implementation: transformers' ``ViTMAEForPreTraining``.

Maps this project's (official) parameter names onto transformers 5.x IN-MEMORY names, which differ from the names
in the Hub files (``vit.layers.{i}.attention.q_proj`` in memory, ``vit.encoder.layer.{i}.attention.attention.query``
on the Hub). The production converter (Hub names -> official) lives in ``mae_core/checkpoints/convert.py``; this one
only has to build a twin of a random model so both implementations can be fed the same weights and the same noise.
"""

from __future__ import annotations

import torch
from transformers import ViTMAEConfig, ViTMAEForPreTraining

from mae_core.modeling.model import LAYER_NORM_EPS, MAEConfig, MaskedAutoencoderViT

# official block-inner name -> transformers block-inner name (qkv is handled separately: it is split in three)
_BLOCK_RENAMES = {
    "norm1": "layernorm_before",
    "norm2": "layernorm_after",
    "attn.proj": "attention.o_proj",
    "mlp.fc1": "mlp.fc1",
    "mlp.fc2": "mlp.fc2",
}

_TOP_RENAMES = {
    "cls_token": "vit.embeddings.cls_token",
    "pos_embed": "vit.embeddings.position_embeddings",
    "patch_embed.proj.weight": "vit.embeddings.patch_embeddings.projection.weight",
    "patch_embed.proj.bias": "vit.embeddings.patch_embeddings.projection.bias",
    "norm.weight": "vit.layernorm.weight",
    "norm.bias": "vit.layernorm.bias",
    "mask_token": "decoder.mask_token",
    "decoder_pos_embed": "decoder.decoder_pos_embed",
    "decoder_embed.weight": "decoder.decoder_embed.weight",
    "decoder_embed.bias": "decoder.decoder_embed.bias",
    "decoder_norm.weight": "decoder.decoder_norm.weight",
    "decoder_norm.bias": "decoder.decoder_norm.bias",
    "decoder_pred.weight": "decoder.decoder_pred.weight",
    "decoder_pred.bias": "decoder.decoder_pred.bias",
}


def hf_config(config: MAEConfig, mask_ratio: float = 0.75, attn_implementation: str = "eager") -> ViTMAEConfig:
    """The transformers config of the same architecture, with the official LayerNorm eps (the Hub uses 1e-12)."""
    hf = ViTMAEConfig(
        hidden_size=config.embed_dim,
        num_hidden_layers=config.depth,
        num_attention_heads=config.num_heads,
        intermediate_size=int(config.embed_dim * config.mlp_ratio),
        decoder_hidden_size=config.decoder_embed_dim,
        decoder_num_hidden_layers=config.decoder_depth,
        decoder_num_attention_heads=config.decoder_num_heads,
        decoder_intermediate_size=int(config.decoder_embed_dim * config.mlp_ratio),
        image_size=config.img_size,
        patch_size=config.patch_size,
        num_channels=config.in_chans,
        hidden_act="gelu",
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        layer_norm_eps=LAYER_NORM_EPS,
        qkv_bias=True,
        mask_ratio=mask_ratio,
        norm_pix_loss=config.norm_pix_loss,
    )
    hf._attn_implementation = attn_implementation
    return hf


def _rename_block(name: str, official_prefix: str, hf_prefix: str) -> str | None:
    """``blocks.3.norm1.weight`` -> ``vit.layers.3.layernorm_before.weight``; None when not a block parameter."""
    if not name.startswith(official_prefix):
        return None
    index, inner = name[len(official_prefix) :].split(".", 1)
    for old, new in _BLOCK_RENAMES.items():
        if inner.startswith(old + "."):
            return f"{hf_prefix}{index}.{new}{inner[len(old) :]}"
    raise KeyError(f"unexpected block parameter {name}")


def official_to_hf(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Official names -> transformers 5.x in-memory names; qkv split row-wise in thirds into q, k, v."""
    out: dict[str, torch.Tensor] = {}
    for name, tensor in state_dict.items():
        if name in _TOP_RENAMES:
            out[_TOP_RENAMES[name]] = tensor
            continue
        for official_prefix, hf_prefix in (("blocks.", "vit.layers."), ("decoder_blocks.", "decoder.decoder_layers.")):
            if not name.startswith(official_prefix):
                continue
            if ".attn.qkv." in name:
                index = name[len(official_prefix) :].split(".", 1)[0]
                kind = name.rsplit(".", 1)[1]  # weight [3D, D] or bias [3D]
                for part, chunk in zip(("q", "k", "v"), tensor.chunk(3, dim=0)):
                    out[f"{hf_prefix}{index}.attention.{part}_proj.{kind}"] = chunk.clone()
            else:
                out[_rename_block(name, official_prefix, hf_prefix)] = tensor
            break
        else:
            raise KeyError(f"unexpected parameter {name}")
    return out


def hf_twin(
    model: MaskedAutoencoderViT, mask_ratio: float = 0.75, attn_implementation: str = "eager"
) -> ViTMAEForPreTraining:
    """A transformers model holding exactly ``model``'s weights (strict load), in eval mode."""
    twin = ViTMAEForPreTraining(hf_config(model.config, mask_ratio, attn_implementation))
    twin.load_state_dict(official_to_hf(model.state_dict()), strict=True)
    return twin.eval()
