"""Pure conversions between images and patch sequences, in the official (p, q, c) pixel order."""

from __future__ import annotations

import torch


def patchify(imgs: torch.Tensor, patch_size: int) -> torch.Tensor:
    """[N, C, H, W] -> [N, L, p*p*C] with L = (H/p)*(W/p), row-major over patches, pixels ordered (p, q, c)."""
    n, c, h, w = imgs.shape
    p = patch_size
    if h % p or w % p:
        raise ValueError(f"image size {h}x{w} is not divisible by patch size {p}")
    gh, gw = h // p, w // p
    x = imgs.reshape(n, c, gh, p, gw, p)
    x = torch.einsum("nchpwq->nhwpqc", x)
    return x.reshape(n, gh * gw, p * p * c)


def unpatchify(
    x: torch.Tensor, patch_size: int, grid: tuple[int, int] | None = None, channels: int = 3
) -> torch.Tensor:
    """[N, L, p*p*C] -> [N, C, H, W]; the inverse of :func:`patchify`. ``grid`` defaults to a square (h, w)."""
    n, length, _ = x.shape
    p = patch_size
    gh, gw = _grid(length, grid)
    x = x.reshape(n, gh, gw, p, p, channels)
    x = torch.einsum("nhwpqc->nchpwq", x)
    return x.reshape(n, channels, gh * p, gw * p)


def mask_to_pixels(
    mask: torch.Tensor, patch_size: int | tuple[int, int], grid: tuple[int, int] | None = None
) -> torch.Tensor:
    """Per-patch values [N, L] (or one row [L]) -> [N, 1, H, W], each value over its patch's block of pixels.

    With a mask (1 = removed) the result multiplies images [N, C, H, W] directly: ``imgs * (1 - pixels)`` blanks
    the removed patches. ``patch_size`` may be (rows, cols) for blocks that are not square; ``grid`` defaults to a
    square (h, w) as in :func:`unpatchify`. Dtype and device are the input's."""
    values = mask.unsqueeze(0) if mask.dim() == 1 else mask
    if values.dim() != 2:
        raise ValueError(f"a patch mask must be [N, L] or [L], got shape {list(mask.shape)}")
    block_h, block_w = (patch_size, patch_size) if isinstance(patch_size, int) else patch_size
    grid_h, grid_w = _grid(values.shape[1], grid)
    cells = values.reshape(values.shape[0], 1, grid_h, grid_w)
    return cells.repeat_interleave(block_h, dim=2).repeat_interleave(block_w, dim=3)


def paste(imgs: torch.Tensor, predicted: torch.Tensor, removed: torch.Tensor) -> torch.Tensor:
    """The "reconstruction + visible" image [N, C, H, W]: ``imgs`` on the visible pixels, ``predicted`` (the
    prediction as images, :func:`unpatchify`) on the removed ones. ``removed`` [N, 1, H, W] is the mask as pixels
    (:func:`mask_to_pixels`, 1 = removed); both images in one space (normalised, or [0, 1])."""
    return imgs * (1.0 - removed) + predicted * removed


def _grid(length: int, grid: tuple[int, int] | None) -> tuple[int, int]:
    """``grid``, else the square grid of ``length`` patches (``ValueError`` when there is none)."""
    if grid is not None:
        return grid
    side = int(round(length**0.5))
    if side * side != length:
        raise ValueError(f"{length} patches do not form a square grid; pass grid=(rows, cols)")
    return side, side
