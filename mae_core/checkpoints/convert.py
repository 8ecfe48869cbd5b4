"""Pure functions from a foreign state dict to the official MAE names, and the architecture read off the tensors.

Nothing here touches files; the exceptions come from ``errors``. transformers' ``ViTMAEForPreTraining`` comes in
three spellings, all accepted:

- the Hub files (legacy): ``vit.encoder.layer.{i}.attention.attention.{query,key,value}``,
  ``...attention.output.dense``, ``...intermediate.dense``, ``...output.dense``, ``...layernorm_before/after``;
  decoder ``decoder.decoder_layers.{i}``;
- transformers 5 in memory: ``vit.layers.{i}.attention.{q,k,v,o}_proj``, ``vit.layers.{i}.mlp.fc1/fc2``;
- transformers 5 ``save_pretrained``: legacy inner names, decoder layers under ``decoder.decoder_encoder.layer.{i}``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import fields

import torch

from ..modeling.model import MAEConfig
from .errors import VISUALIZE_HINT, EncoderOnlyError, StateDictMismatchError, UnknownArchitectureError

# heads are not stored in the tensors: the official presets by width (encoder and decoder)
HEADS_BY_WIDTH = {768: 12, 1024: 16, 1280: 16, 512: 16}


# ---- layouts ----
def detect_layout(keys: Iterable[str]) -> str:
    """``"official"``, ``"transformers"``, ``"encoder-only"`` or ``"unknown"`` from the parameter names."""
    keys = set(keys)
    if any(k.startswith(("vit.", "decoder.")) for k in keys):
        return "transformers" if any(k.startswith("decoder.") for k in keys) else "encoder-only"
    if any(k.startswith(("embeddings.", "encoder.layer.")) for k in keys):  # transformers' ViTMAEModel
        return "encoder-only"
    if "patch_embed.proj.weight" in keys or any(k.startswith("blocks.") for k in keys):
        return "official" if any(k.startswith("decoder_") for k in keys) else "encoder-only"
    return "unknown"


def strip_prefix(state: Mapping[str, torch.Tensor], prefix: str = "module.") -> dict[str, torch.Tensor]:
    """Drop a prefix every key carries (``module.`` from DistributedDataParallel); otherwise unchanged."""
    if state and all(k.startswith(prefix) for k in state):
        return {k[len(prefix) :]: v for k, v in state.items()}
    return dict(state)


_BLOCK = re.compile(
    r"^(?:vit\.encoder\.layer|vit\.layers|(?P<dec>decoder\.decoder_layers|decoder\.decoder_encoder\.layer))"
    r"\.(?P<i>\d+)\.(?P<inner>.+)\.(?P<kind>weight|bias)$"
)
# inner name -> (official inner name, part of the fused qkv or None)
_INNER = {
    "attention.attention.query": ("attn.qkv", 0),
    "attention.attention.key": ("attn.qkv", 1),
    "attention.attention.value": ("attn.qkv", 2),
    "attention.q_proj": ("attn.qkv", 0),
    "attention.k_proj": ("attn.qkv", 1),
    "attention.v_proj": ("attn.qkv", 2),
    "attention.output.dense": ("attn.proj", None),
    "attention.o_proj": ("attn.proj", None),
    "intermediate.dense": ("mlp.fc1", None),
    "mlp.fc1": ("mlp.fc1", None),
    "output.dense": ("mlp.fc2", None),
    "mlp.fc2": ("mlp.fc2", None),
    "layernorm_before": ("norm1", None),
    "layernorm_after": ("norm2", None),
}
_TOP = {
    "vit.embeddings.cls_token": "cls_token",
    "vit.embeddings.position_embeddings": "pos_embed",
    "vit.embeddings.patch_embeddings.projection.weight": "patch_embed.proj.weight",
    "vit.embeddings.patch_embeddings.projection.bias": "patch_embed.proj.bias",
    "vit.layernorm.weight": "norm.weight",
    "vit.layernorm.bias": "norm.bias",
    "decoder.mask_token": "mask_token",
    "decoder.decoder_pos_embed": "decoder_pos_embed",
}
_DECODER_TOP = re.compile(r"^decoder\.(decoder_(?:embed|norm|pred)\.(?:weight|bias))$")


def transformers_plan(keys: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Official name -> the transformers keys that make it, in order (query, key, value are concatenated).

    Raises :class:`StateDictMismatchError` for a key it does not know or a query/key/value triple with a gap.
    """
    parts: dict[str, dict[int, str]] = {}
    plan: dict[str, tuple[str, ...]] = {}
    unknown = []
    for key in sorted(keys):
        if key in _TOP:
            plan[_TOP[key]] = (key,)
            continue
        top = _DECODER_TOP.match(key)
        if top:
            plan[top.group(1)] = (key,)
            continue
        block = _BLOCK.match(key)
        inner = _INNER.get(block.group("inner")) if block else None
        if inner is None:
            unknown.append(key)
            continue
        prefix = "decoder_blocks" if block.group("dec") else "blocks"
        name = f"{prefix}.{block.group('i')}.{inner[0]}.{block.group('kind')}"
        if inner[1] is None:
            plan[name] = (key,)
        else:
            parts.setdefault(name, {})[inner[1]] = key
    if unknown:
        raise StateDictMismatchError(f"unrecognised transformers keys: {_some(unknown)}")
    for name, triple in parts.items():
        if sorted(triple) != [0, 1, 2]:
            raise StateDictMismatchError(f"{name}: query/key/value incomplete, found only {sorted(triple.values())}")
        plan[name] = (triple[0], triple[1], triple[2])
    return plan


def apply_plan(state: Mapping[str, torch.Tensor], plan: Mapping[str, tuple[str, ...]]) -> dict[str, torch.Tensor]:
    # [3D, D] qkv from three [D, D] row blocks; everything else is passed through (no copy)
    return {name: state[src[0]] if len(src) == 1 else torch.cat([state[k] for k in src]) for name, src in plan.items()}


def transformers_to_official(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A ``ViTMAEForPreTraining`` state dict (any of the three spellings) under the official names."""
    return apply_plan(state, transformers_plan(state))


# ---- architecture from tensors ----
def _count_blocks(shapes: Mapping[str, tuple[int, ...]], prefix: str) -> int:
    indices = {int(m.group(1)) for k in shapes if (m := re.match(rf"^{prefix}\.(\d+)\.", k))}
    if indices != set(range(len(indices))):
        raise StateDictMismatchError(f"{prefix}: layer indices are not contiguous from 0: {sorted(indices)}")
    return len(indices)


def infer_config(shapes: Mapping[str, tuple[int, ...]], hints: Mapping[str, object] | None = None) -> MAEConfig:
    """The :class:`MAEConfig` that official-named tensors of these shapes describe.

    ``hints`` may hold ``num_heads``, ``decoder_num_heads`` and ``norm_pix_loss`` (from the file's metadata, a
    ``config.json`` or the registry); heads fall back to the official presets by width, else the error asks for a
    config. Every other field is read from the shapes.
    """
    hints = dict(hints or {})
    _check_readable(shapes)
    embed_dim, in_chans, patch, patch_w = shapes["patch_embed.proj.weight"]  # [D, C, p, p]
    num_tokens = shapes["pos_embed"][1]  # [1, L + 1, D]
    grid = round((num_tokens - 1) ** 0.5)
    if patch != patch_w or grid * grid != num_tokens - 1:
        raise UnknownArchitectureError(
            f"need square patches and a square patch grid, got patch {patch}x{patch_w} and {num_tokens - 1} patches"
        )
    decoder_dim = shapes["decoder_embed.weight"][0]  # [Dd, D]
    mlp_ratio = shapes["blocks.0.mlp.fc1.weight"][0] / embed_dim  # [D * ratio, D]
    decoder_fc1 = shapes.get("decoder_blocks.0.mlp.fc1.weight")
    if decoder_fc1 is not None and decoder_fc1[0] != round(mlp_ratio * decoder_dim):
        raise UnknownArchitectureError(
            f"encoder and decoder MLP ratios differ ({mlp_ratio} vs {decoder_fc1[0] / decoder_dim}); "
            "one ratio is supported"
        )
    heads, decoder_heads = _heads(embed_dim, decoder_dim, hints)
    try:
        return MAEConfig(
            img_size=grid * patch,
            patch_size=patch,
            in_chans=in_chans,
            embed_dim=embed_dim,
            depth=_count_blocks(shapes, "blocks"),
            num_heads=heads,
            decoder_embed_dim=decoder_dim,
            decoder_depth=_count_blocks(shapes, "decoder_blocks"),
            decoder_num_heads=decoder_heads,
            mlp_ratio=mlp_ratio,
            norm_pix_loss=bool(hints.get("norm_pix_loss", False)),
        )
    except ValueError as exc:
        raise UnknownArchitectureError(f"the tensors describe an invalid architecture: {exc}") from None


# the tensors whose shapes give the architecture
_ARCHITECTURE_TENSORS = (
    "patch_embed.proj.weight",
    "pos_embed",
    "decoder_embed.weight",
    "decoder_pred.weight",
    "blocks.0.mlp.fc1.weight",
)


def _check_readable(shapes: Mapping[str, tuple[int, ...]]) -> None:
    """An official-named MAE with a decoder and the tensors the architecture is read from, else the reason."""
    layout = detect_layout(shapes)
    if layout == "encoder-only":
        raise EncoderOnlyError(
            f"the checkpoint has no decoder (encoder-only weights); it cannot reconstruct: {VISUALIZE_HINT}"
        )
    if layout != "official":
        raise UnknownArchitectureError(f"not an MAE state dict; first keys: {_some(sorted(shapes))}")
    absent = [k for k in _ARCHITECTURE_TENSORS if k not in shapes]
    if absent:
        raise StateDictMismatchError(f"missing tensors {absent}, needed to read the architecture")


def _heads(embed_dim: int, decoder_dim: int, hints: Mapping[str, object]) -> tuple[int, int]:
    """Encoder and decoder heads: from the hints, else the official presets by width."""
    heads = hints.get("num_heads") or HEADS_BY_WIDTH.get(embed_dim)
    decoder_heads = hints.get("decoder_num_heads") or HEADS_BY_WIDTH.get(decoder_dim)
    if not heads or not decoder_heads:
        raise UnknownArchitectureError(
            f"cannot tell the number of attention heads for widths {embed_dim}/{decoder_dim} (not an official preset); "
            "give a config: a config.json beside the weights, or save with mae_core.save_checkpoint"
        )
    return int(heads), int(decoder_heads)


def hints_from_transformers_config(config: Mapping[str, object]) -> dict[str, object]:
    """``infer_config`` hints from a transformers ``config.json`` (``ViTMAEConfig``)."""
    hints: dict[str, object] = {}
    for ours, theirs in (("num_heads", "num_attention_heads"), ("decoder_num_heads", "decoder_num_attention_heads")):
        if config.get(theirs):
            hints[ours] = int(config[theirs])
    if "norm_pix_loss" in config:
        hints["norm_pix_loss"] = bool(config["norm_pix_loss"])
    return hints


def hints_from_mae_config(config: Mapping[str, object]) -> dict[str, object]:
    """``infer_config`` hints from our own metadata (``MAEConfig.to_dict()``); unknown fields are an error."""
    known = {f.name for f in fields(MAEConfig)}
    unknown = set(config) - known
    if unknown:
        raise UnknownArchitectureError(
            f"mae_config metadata has unknown fields {sorted(unknown)}; known: {sorted(known)}"
        )
    return {k: config[k] for k in ("num_heads", "decoder_num_heads", "norm_pix_loss") if k in config}


def check_shapes(shapes: Mapping[str, tuple[int, ...]], expected: Mapping[str, tuple[int, ...]]) -> None:
    """Strict: the same names with the same shapes, else :class:`StateDictMismatchError` naming the differences."""
    missing = sorted(set(expected) - set(shapes))
    unexpected = sorted(set(shapes) - set(expected))
    wrong = [
        f"{k} {list(shapes[k])} != {list(expected[k])}"
        for k in sorted(expected)
        if k in shapes and shapes[k] != expected[k]
    ]
    if missing or unexpected or wrong:
        problems = []
        if missing:
            problems.append(f"missing {len(missing)}: {_some(missing)}")
        if unexpected:
            problems.append(f"unexpected {len(unexpected)}: {_some(unexpected)}")
        if wrong:
            problems.append(f"wrong shapes: {_some(wrong)}")
        raise StateDictMismatchError("state dict does not match the architecture: " + "; ".join(problems))


def _some(items: list[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")
