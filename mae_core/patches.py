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
    if grid is None:
        side = int(round(length**0.5))
        if side * side != length:
            raise ValueError(f"{length} patches do not form a square grid; pass grid=(rows, cols)")
        grid = (side, side)
    gh, gw = grid
    x = x.reshape(n, gh, gw, p, p, channels)
    x = torch.einsum("nhwpqc->nchpwq", x)
    return x.reshape(n, channels, gh * p, gw * p)
