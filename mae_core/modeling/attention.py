"""Where the model looks: attention probabilities of the encoder and decoder blocks, and their rollout.

The model's blocks use timm's fused attention (``scaled_dot_product_attention``), which never forms the
probability matrix. :func:`record_attention` computes it on the side, only when asked: forward pre-hooks on each
block's attention module see the block's normalised tokens and form ``softmax(q k^T / sqrt(d))`` from the block's
own ``qkv`` weights (the eager formula). The forward pass itself runs unchanged (same fused kernels, same outputs);
without the context manager no hook exists, so the ordinary and packed paths pay nothing.

Token orders (as the model and transformers' ``ViTMAE`` hold them):
- encoder: token 0 is the class token, tokens 1..K the visible patches in the order the noise kept them
  (``argsort(noise)[:K]``, not ascending);
- decoder: token 0 is the class token, token 1 + p is patch p (mask tokens sit at the removed patches).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

CLASS_TOKEN = "class token"


def attention_probs(attn: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """[N, heads, T, T] float32 softmax probabilities of a timm ``Attention`` module for its input ``x`` [N, T, D]
    (the block's ``norm1`` output): row i is how query token i spreads its attention over the T key tokens."""
    n, t, _ = x.shape
    qkv = attn.qkv(x).reshape(n, t, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4)
    q, k = attn.q_norm(qkv[0]), attn.k_norm(qkv[1])  # [N, heads, T, head_dim]
    scores = (q.float() * attn.scale) @ k.float().transpose(-2, -1)
    return scores.softmax(dim=-1)


@dataclass
class AttentionRecord:
    """What :func:`record_attention` collects during one forward pass, one tensor per block in order."""

    encoder: list[torch.Tensor] = field(default_factory=list)  # depth x [N, heads, 1+K, 1+K]
    decoder: list[torch.Tensor] = field(default_factory=list)  # decoder_depth x [N, dec_heads, 1+L, 1+L]


@contextmanager
def record_attention(model: nn.Module) -> Iterator[AttentionRecord]:
    """Within the block, every forward pass of ``model`` (a :class:`~.model.MaskedAutoencoderViT`) appends its
    blocks' attention probabilities to the yielded :class:`AttentionRecord`. Hooks are removed on exit."""
    record = AttentionRecord()
    handles = []
    for blocks, into in ((model.blocks, record.encoder), (model.decoder_blocks, record.decoder)):
        for block in blocks:

            def hook(module: nn.Module, args: tuple, into: list = into) -> None:
                into.append(attention_probs(module, args[0]))

            handles.append(block.attn.register_forward_pre_hook(hook))
    try:
        yield record
    finally:
        for handle in handles:
            handle.remove()


def rollout(encoder: np.ndarray) -> np.ndarray:
    """Attention rollout (Abnar & Zuidema, 2020) of one image's encoder attention [depth, heads, T, T] -> [T, T].

    Per layer l: average the heads, A_l = mean_h P_l,h; add the residual path and renormalise the rows,
    Â_l = (A_l + I) / rowsum(A_l + I) (= (A_l + I) / 2, rows of A_l summing to 1); then multiply through the layers,
    R = Â_depth ... Â_2 Â_1. Row i of R is how much of token i's final state traces back to each input token; rows sum
    to 1. Computed in float64, returned as float32."""
    tokens = encoder.shape[-1]
    eye = np.eye(tokens)
    result = eye
    for layer in encoder.astype(np.float64):
        mixed = layer.mean(axis=0) + eye
        result = (mixed / mixed.sum(axis=-1, keepdims=True)) @ result
    return result.astype(np.float32)


@dataclass(frozen=True)
class AttentionMap:
    """One query's attention laid on the patch grid."""

    grid: np.ndarray  # [gh, gw] float32, attention paid to each visible patch; NaN at the removed patches
    class_token: float  # attention paid to the class token (not on the grid)
    query: str  # what looked: "class token" or "patch i"
    source: str  # "encoder layer l, head h", "encoder rollout", "decoder layer l, mean of heads"...


@dataclass(frozen=True)
class AttentionMaps:
    """One image's attention under one mask. K visible patches, R = L - K removed, g = (gh, gw) the patch grid;
    probabilities are float32 softmax outputs. Patch indices are row-major on the grid."""

    encoder: np.ndarray  # [depth, heads, 1+K, 1+K]: encoder token 0 = class token, token 1+k = patch visible[k]
    decoder: np.ndarray  # [decoder_depth, decoder_heads, R, 1+K]: from the mask token of patch removed[r] to the
    #                      class token and the visible tokens (columns as the encoder's); each row sums to <= 1,
    #                      the rest went to mask tokens
    rollout: np.ndarray  # [1+K, 1+K]: :func:`rollout` of ``encoder``
    visible: np.ndarray  # [K] int64, the patch of each encoder token 1..K (the noise's keep order)
    removed: np.ndarray  # [R] int64, the removed patches, ascending (the decoder rows)
    grid: tuple[int, int]  # (gh, gw)

    @property
    def depth(self) -> int:
        return self.encoder.shape[0]

    @property
    def heads(self) -> int:
        return self.encoder.shape[1]

    @property
    def decoder_depth(self) -> int:
        return self.decoder.shape[0]

    @property
    def decoder_heads(self) -> int:
        return self.decoder.shape[1]

    def encoder_map(self, patch: int | None = None, layer: int | None = None, head: int | None = None) -> AttentionMap:
        """Where the encoder token of ``patch`` (None: the class token) looked: at ``layer`` (0-based, negative from
        the end) and
        ``head`` (None: the mean of the heads), or the rollout when ``layer`` is None. ``ValueError`` when ``patch``
        was removed (the encoder never saw it) or an index is out of range."""
        query, token = (CLASS_TOKEN, 0) if patch is None else (f"patch {patch}", self._visible_token(patch))
        if layer is None:
            if head is not None:
                raise ValueError("the rollout averages the heads; choose a layer to see one head")
            return self._on_grid(self.rollout[token], query, "encoder rollout")
        probs, source = _pick(self.encoder, layer, head, "encoder")
        return self._on_grid(probs[token], query, source)

    def decoder_map(self, patch: int, layer: int = -1, head: int | None = None) -> AttentionMap:
        """Where the mask token of the removed ``patch`` looked among the visible tokens at decoder ``layer``
        (negative from the end) and ``head`` (None: the mean of the heads). ``ValueError`` when ``patch`` was
        visible."""
        rows = np.flatnonzero(self.removed == patch)
        if not rows.size:
            raise ValueError(f"patch {patch} was visible: only removed patches have a mask token in the decoder")
        probs, source = _pick(self.decoder, layer, head, "decoder")
        return self._on_grid(probs[rows[0]], f"patch {patch}", source)

    def where_looked(self, patch: int | None = None, layer: int | None = None, head: int | None = None) -> AttentionMap:
        """The token of ``patch`` wherever it lives: the class token (None) or a visible patch in the encoder
        (:meth:`encoder_map`, ``layer`` None = the rollout), a removed patch's mask token in the decoder
        (:meth:`decoder_map`; the decoder has no rollout, so ``layer`` None is a ``ValueError`` saying so)."""
        if patch is None or patch not in self.removed:
            return self.encoder_map(patch, layer, head)
        if layer is None:
            raise ValueError(
                f"patch {patch} was removed, so its token is a mask token in the decoder, which has no rollout: "
                f"choose a decoder layer (0..{self.decoder_depth - 1}, or -1 for the last)"
            )
        return self.decoder_map(patch, layer, head)

    def _visible_token(self, patch: int) -> int:
        tokens = np.flatnonzero(self.visible == patch)
        if not tokens.size:
            num = self.grid[0] * self.grid[1]
            if not 0 <= patch < num:
                raise ValueError(f"patch {patch} is outside the {self.grid[0]}x{self.grid[1]} grid (0..{num - 1})")
            raise ValueError(f"patch {patch} was removed: the encoder never saw it (its mask token is in the decoder)")
        return int(tokens[0]) + 1

    def _on_grid(self, row: np.ndarray, query: str, source: str) -> AttentionMap:
        """``row`` [1+K] (class token, visible tokens) -> the map: visible patches filled, removed ones NaN."""
        grid = np.full(self.grid[0] * self.grid[1], np.nan, dtype=np.float32)
        grid[self.visible] = row[1:]
        return AttentionMap(grid.reshape(self.grid), float(row[0]), query, source)


def _head_name(head: int | None) -> str:
    return "mean of heads" if head is None else f"head {head}"


def _pick(probs: np.ndarray, layer: int, head: int | None, part: str) -> tuple[np.ndarray, str]:
    """([rows, cols] of ``probs`` [layers, heads, rows, cols] at ``layer`` (negative: from the end, -1 = last) and
    ``head`` (None: the mean of the heads), its label)."""
    layers, heads = probs.shape[:2]
    if not -layers <= layer < layers:
        raise ValueError(
            f"{part} layer {layer} is out of range: this model has {layers} (0..{layers - 1}, or -1 for the last)"
        )
    layer %= layers
    label = f"{part} layer {layer}, {_head_name(head)}"
    if head is None:
        return probs[layer].mean(axis=0), label
    if not 0 <= head < heads:
        raise ValueError(f"{part} head {head} is out of range: this model has {heads} (0..{heads - 1})")
    return probs[layer, head], label


def attention_maps(
    record: AttentionRecord, ids_restore: torch.Tensor, num_kept: int, grid: tuple[int, int], index: int = 0
) -> AttentionMaps:
    """Image ``index``'s :class:`AttentionMaps` from a record of one forward pass; ``ids_restore`` [N, L] is the
    pass's (``MAEOutput.ids_restore``), ``num_kept`` its K."""
    if not record.encoder or not record.decoder:
        raise ValueError("the record holds no attention: run the model inside record_attention")
    shuffle = torch.argsort(ids_restore[index]).cpu().numpy()  # ids_shuffle: token order of the noise
    visible, removed = shuffle[:num_kept], np.sort(shuffle[num_kept:])
    encoder = np.stack([layer[index].cpu().numpy() for layer in record.encoder])
    columns = np.concatenate([[0], visible + 1])
    decoder = np.stack([layer[index].cpu().numpy()[:, removed + 1][:, :, columns] for layer in record.decoder])
    return AttentionMaps(
        encoder=encoder,
        decoder=decoder,
        rollout=rollout(encoder),
        visible=visible.astype(np.int64),
        removed=removed.astype(np.int64),
        grid=grid,
    )
