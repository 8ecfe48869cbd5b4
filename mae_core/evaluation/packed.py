"""The packed forward pass: many (image, mask ratio, seed) items of one model in ONE pass.

Sequences of different mask ratios have different lengths (1 + len_keep tokens), so a plain batch can only hold one
ratio. Here the encoder's tokens of ALL items are concatenated into one packed ``[T, D]`` matrix: the token-wise
layers (LayerNorm, qkv, projection, MLP) are then one large matmul each, and only attention is split, into one
``scaled_dot_product_attention`` call per group of equal-length sequences (items of the same ratio). Every decoder
sequence has length L + 1, so the decoder is an ordinary uniform batch.

Numerically this is the model's own forward (same ops, same order per token); only the matmul blocking differs, so
float32 results agree with :meth:`MaskedAutoencoderViT.forward` to float rounding. With a bfloat16 compute dtype the
matmul weights are cast once (in :func:`pack_weights`) and activations are cast at each matmul, while LayerNorms,
the residual stream, tokens, position embeddings and the loss stay float32 - what autocast does, made explicit so it
behaves the same on every device.

On a CPU, linears go through oneDNN's fused linear where this torch build has it, in both dtypes: the bias and the
GELU are applied inside the matmul instead of as separate passes over [T, 4D], and oneDNN's AVX-512 float32 kernels
beat ``F.linear``'s BLAS on AMD CPUs (about 1.2x per core on an EPYC, same numbers to float rounding). In bfloat16
the weights are also stored once in oneDNN's blocked layout ("prepacked"), so no matmul re-lays its weight out per
call (about 5 % on the same CPU); float32 weights stay views of the model's own (a blocked copy would double the
memory for about 2 %).
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..modeling.masking import check_mask_ratio
from ..modeling.model import LAYER_NORM_EPS, MAEConfig, MaskedAutoencoderViT
from ..options import COMPUTE_DTYPE_NAMES, check_dtype_name

COMPUTE_DTYPES: dict[str, torch.dtype] = {name: getattr(torch, name) for name in COMPUTE_DTYPE_NAMES}


def compute_dtype(name: object) -> torch.dtype:
    """The torch dtype of a compute dtype's name (``"float32"`` exact, ``"bfloat16"`` fast); ``ValueError`` naming
    the value and the accepted names otherwise."""
    return COMPUTE_DTYPES[check_dtype_name(name)]


@dataclass(frozen=True)
class PackedWeights:
    """A model's parameters by official name, on one device, matmul weights in ``compute_dtype`` (cast once)."""

    config: MAEConfig
    tensors: dict[str, torch.Tensor]
    compute_dtype: torch.dtype
    # oneDNN linear with bias/GELU fused (CPU only, see _onednn_linear_works); in bfloat16 the linear weights are
    # then oneDNN-blocked tensors that only that op reads
    fused_linear: bool = False

    def __getitem__(self, name: str) -> torch.Tensor:
        return self.tensors[name]


@dataclass(frozen=True)
class PackedOutput:
    """Predictions for N items (N sequences, whatever their ratios)."""

    pred: torch.Tensor  # [N, L, p*p*C] float32, normalised pixel-target space
    mask: torch.Tensor  # [N, L] float32, 0 keep, 1 remove


def _is_matmul_parameter(name: str, state_dict: dict[str, torch.Tensor]) -> bool:
    # Linear weights are 2-D and the patch-embedding conv is 4-D; they and their biases run in the compute dtype.
    # LayerNorms, cls/mask tokens and position embeddings stay float32 (cheap, and where bfloat16 would cost
    # accuracy for no speed).
    if name.endswith(".bias"):
        name = name[: -len(".bias")] + ".weight"
    return name.endswith(".weight") and state_dict[name].dim() in (2, 4)


def pack_weights(
    model: MaskedAutoencoderViT, device: torch.device, compute_dtype: torch.dtype, *, onednn: bool | None = None
) -> PackedWeights:
    """Detached views of ``model``'s parameters (copies only where the device or dtype changes); the model is
    left untouched. ``onednn``: use oneDNN's fused linear (None: on a CPU where this torch build has it)."""
    if onednn is None:
        onednn = device.type == "cpu" and _onednn_linear_works(compute_dtype)
    elif onednn and not (device.type == "cpu" and _onednn_linear_works(compute_dtype)):
        raise ValueError(f"oneDNN's fused linear is not available for {compute_dtype} on {device}")
    state_dict = model.state_dict()
    tensors = {}
    for name, tensor in state_dict.items():
        dtype = compute_dtype if _is_matmul_parameter(name, state_dict) else torch.float32
        tensors[name] = tensor.detach().to(device=device, dtype=dtype)
        if onednn and compute_dtype != torch.float32 and tensor.dim() == 2 and name.endswith(".weight"):
            tensors[name] = torch.ops.mkldnn._reorder_linear_weight(tensors[name], None)
    return PackedWeights(config=model.config, tensors=tensors, compute_dtype=compute_dtype, fused_linear=onednn)


_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> {(device, dtype): (stamp, weights)}
_CACHE_LOCK = threading.Lock()


def _parameter_stamp(model: MaskedAutoencoderViT) -> tuple:
    # storage address and in-place version counter of every tensor: changes when weights are loaded, trained or
    # replaced, so a cached cast is never stale
    return tuple((t.data_ptr(), t._version, t.dtype, t.device) for t in model.state_dict().values())


def cached_pack_weights(model: MaskedAutoencoderViT, device: torch.device, compute_dtype: torch.dtype) -> PackedWeights:
    """:func:`pack_weights`, kept for as long as ``model`` lives and its parameters are unchanged, so repeated
    evaluations (a sweep's image chunks, the app's studies) cast the weights once, not per call. Costs one
    compute-dtype copy of the matmul weights per (model, device, dtype) - 0.65 GB for ViT-L in bfloat16."""
    key = (device, compute_dtype)
    stamp = _parameter_stamp(model)
    with _CACHE_LOCK:
        hit = _CACHE.get(model, {}).get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
    weights = pack_weights(model, device, compute_dtype)
    with _CACHE_LOCK:
        _CACHE.setdefault(model, {})[key] = (stamp, weights)
    return weights


@functools.cache
def _onednn_linear_works(dtype: torch.dtype) -> bool:
    """Whether this torch build has oneDNN's fused CPU linear for ``dtype`` - with a prepacked weight in bfloat16 -
    and it computes the right thing (private ops, so probe them rather than trust them)."""
    op = getattr(torch.ops.mkldnn, "_linear_pointwise", None)
    reorder = getattr(torch.ops.mkldnn, "_reorder_linear_weight", None)
    if op is None or reorder is None or not torch.backends.mkldnn.is_available():
        return False
    x = torch.linspace(-2, 2, 12).view(3, 4)
    w = torch.linspace(-1, 1, 20).view(5, 4)
    b = torch.linspace(0, 1, 5)
    expected = F.gelu(F.linear(x.to(dtype).float(), w.to(dtype).float(), b.to(dtype).float()))
    try:
        weight = w.to(dtype) if dtype == torch.float32 else reorder(w.to(dtype), None)
        out = op(x.to(dtype), weight, b.to(dtype), "gelu", [], "none")
    except (RuntimeError, TypeError):
        return False
    return out.dtype == dtype and bool(
        torch.allclose(out.float(), expected, atol=1e-2 if dtype != torch.float32 else 1e-6)
    )


def _linear(x: torch.Tensor, weights: PackedWeights, prefix: str, gelu: bool = False) -> torch.Tensor:
    """[T, in] -> [T, out] in the compute dtype, optionally followed by the exact (erf) GELU."""
    weight, bias = weights[f"{prefix}.weight"], weights[f"{prefix}.bias"]
    x = x.to(weights.compute_dtype)
    if weights.fused_linear:
        # bias and GELU inside oneDNN's matmul: addmm would first copy the bias over the whole [T, out] output
        return torch.ops.mkldnn._linear_pointwise(
            x, weight, bias, "gelu" if gelu else "none", [], "none" if gelu else ""
        )
    out = F.linear(x, weight, bias)
    return F.gelu(out) if gelu else out


def _layer_norm(x: torch.Tensor, weights: PackedWeights, prefix: str) -> torch.Tensor:
    weight = weights[f"{prefix}.weight"]
    return F.layer_norm(x.float(), weight.shape, weight, weights[f"{prefix}.bias"], LAYER_NORM_EPS)


def _attention(qkv: torch.Tensor, groups: Sequence[tuple[int, int]], num_heads: int, dim: int) -> torch.Tensor:
    """Packed qkv [T, 3D] -> attention output [T, D]; ``groups`` are (sequences, length) runs of equal length."""
    out = torch.empty(qkv.shape[0], dim, dtype=qkv.dtype, device=qkv.device)
    head_dim = dim // num_heads
    start = 0
    for count, length in groups:
        stop = start + count * length
        q, k, v = qkv[start:stop].view(count, length, 3, num_heads, head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        heads = F.scaled_dot_product_attention(q, k, v)  # [count, H, length, hd]
        out[start:stop].view(count, length, num_heads, head_dim).copy_(heads.transpose(1, 2))  # one strided copy
        start = stop
    return out


def _block(
    x: torch.Tensor, weights: PackedWeights, prefix: str, groups: Sequence[tuple[int, int]], num_heads: int
) -> torch.Tensor:
    """One pre-norm ViT block on packed tokens x [T, D] float32 (timm's ``Block``: attention then MLP)."""
    # x is this pass's own float32 residual stream, so it is updated in place; bfloat16 outputs are cast first
    # (one vectorised cast then a float32 add beats a mixed-dtype add)
    dim = x.shape[1]
    qkv = _linear(_layer_norm(x, weights, f"{prefix}.norm1"), weights, f"{prefix}.attn.qkv")  # [T, 3D]
    x.add_(_linear(_attention(qkv, groups, num_heads, dim), weights, f"{prefix}.attn.proj").float())
    hidden = _linear(_layer_norm(x, weights, f"{prefix}.norm2"), weights, f"{prefix}.mlp.fc1", gelu=True)  # [T, 4D]
    return x.add_(_linear(hidden, weights, f"{prefix}.mlp.fc2").float())


@dataclass(frozen=True)
class _KeepGroup:
    """The items that keep the same number of patches: one attention call covers them all."""

    items: torch.Tensor  # [count] item indices, ascending
    ids_keep: torch.Tensor  # [count, keep] the kept patches of each, in noise order

    @property
    def sequence(self) -> tuple[int, int]:
        """(sequences, length) of this group in the packed encoder: each sequence is cls + the kept tokens."""
        return len(self.items), self.ids_keep.shape[1] + 1


def packed_forward(
    weights: PackedWeights,
    imgs: torch.Tensor,
    image_index: Sequence[int],
    mask_ratios: Sequence[float],
    noise: torch.Tensor,
) -> PackedOutput:
    """Predict N items at once. ``imgs`` [M, C, H, W] normalised (each distinct image once), item ``i`` is image
    ``image_index[i]`` masked at ``mask_ratios[i]`` with noise row ``noise[i]`` ([N, L]); outputs in item order."""
    config = weights.config
    n, length = len(image_index), config.num_patches
    if len(mask_ratios) != n or tuple(noise.shape) != (n, length):
        raise ValueError(
            f"need one mask ratio and one noise row per item: {n} items, {len(mask_ratios)} ratios, "
            f"noise of shape {list(noise.shape)} (expected [{n}, {length}])"
        )
    groups = _group_by_keep([check_mask_ratio(r, length) for r in mask_ratios], noise.to(imgs.device))
    index = torch.as_tensor(list(image_index), dtype=torch.long, device=imgs.device)
    x = _encoder_tokens(weights, imgs, index, groups)  # [T, D], T = sum over items of (1 + len_keep)
    sequences = [group.sequence for group in groups]
    for i in range(config.depth):
        x = _block(x, weights, f"blocks.{i}", sequences, config.num_heads)
    latent = _linear(_layer_norm(x, weights, "norm"), weights, "decoder_embed").float()  # [T, Dd]

    x, mask = _decoder_tokens(weights, latent, groups, n)  # [N * (L + 1), Dd], [N, L]
    for i in range(config.decoder_depth):
        x = _block(x, weights, f"decoder_blocks.{i}", [(n, length + 1)], config.decoder_num_heads)
    pred = _linear(_layer_norm(x, weights, "decoder_norm"), weights, "decoder_pred").float()
    pred = pred.view(n, length + 1, config.patch_dim)[:, 1:, :]  # [N, L, p*p*C], cls dropped
    return PackedOutput(pred=pred, mask=mask)


def _group_by_keep(keeps: Sequence[int], noise: torch.Tensor) -> list[_KeepGroup]:
    """Items grouped by their number of kept patches, longest first; ``noise`` [N, L] on the compute device."""
    ids_shuffle = torch.argsort(noise, dim=1)  # [N, L] ascending noise: the first len_keep are kept
    members: dict[int, list[int]] = {}
    for item, keep in enumerate(keeps):
        members.setdefault(keep, []).append(item)
    groups = []
    for keep in sorted(members, reverse=True):
        items = torch.as_tensor(members[keep], dtype=torch.long, device=noise.device)
        groups.append(_KeepGroup(items=items, ids_keep=ids_shuffle[items, :keep]))
    return groups


def _encoder_tokens(
    weights: PackedWeights, imgs: torch.Tensor, index: torch.Tensor, groups: Sequence[_KeepGroup]
) -> torch.Tensor:
    """The packed encoder input [T, D]: per group, each item's cls token then its kept patch tokens."""
    # patch embedding of each distinct image once: [M, L, D]
    conv = weights["patch_embed.proj.weight"]
    tokens = F.conv2d(imgs.to(conv.dtype), conv, weights["patch_embed.proj.bias"], stride=weights.config.patch_size)
    tokens = tokens.flatten(2).transpose(1, 2).float() + weights["pos_embed"][:, 1:, :]
    cls = weights["cls_token"] + weights["pos_embed"][:, :1, :]  # [1, 1, D]
    pieces = []
    for group in groups:
        gather = group.ids_keep.unsqueeze(-1).expand(-1, -1, tokens.shape[2])
        kept = torch.gather(tokens[index[group.items]], 1, gather)  # [count, keep, D]
        pieces.append(torch.cat([cls.expand(len(group.items), -1, -1), kept], dim=1).flatten(0, 1))
    return torch.cat(pieces, dim=0)


def _decoder_tokens(
    weights: PackedWeights, latent: torch.Tensor, groups: Sequence[_KeepGroup], n: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The decoder input in item order, [N * (L + 1), Dd] with position embeddings: the mask token everywhere, the
    encoded tokens scattered back to their patches. Also the mask [N, L] (0 keep, 1 remove)."""
    length, width = weights.config.num_patches, weights.config.decoder_embed_dim
    decoder_in = torch.empty(n, length + 1, width, dtype=torch.float32, device=latent.device)
    mask = torch.ones(n, length, dtype=torch.float32, device=latent.device)
    start = 0
    for group in groups:
        count, seq = group.sequence
        encoded = latent[start : start + count * seq].view(count, seq, width)
        start += count * seq
        patches = weights["mask_token"].expand(count, length, width).clone()
        patches.scatter_(1, group.ids_keep.unsqueeze(-1).expand(-1, -1, width), encoded[:, 1:, :])
        decoder_in[group.items] = torch.cat([encoded[:, :1, :], patches], dim=1)
        mask[group.items] = mask[group.items].scatter(1, group.ids_keep, 0.0)
    return (decoder_in + weights["decoder_pos_embed"]).flatten(0, 1), mask
