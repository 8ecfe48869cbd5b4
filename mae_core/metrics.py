"""Per-image metrics of a reconstruction, over the removed patches only.

``loss`` is the official objective (normalised space). ``mse``/``psnr`` are in [0, 1] RGB: the prediction is
de-normalised with the ImageNet mean/std and clipped to [0, 1] (what a viewer sees), the target is the model input
de-normalised.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .preprocess import denormalize

METRIC_NAMES = ("loss", "mse", "psnr")  # per-image metrics, in the order tables show them
PSNR_CAP_DB = 100.0  # an exact reconstruction reports 100 dB instead of infinity (keeps CSV/JSON finite)


@dataclass(frozen=True)
class Metrics:
    """Metrics of one image at one mask."""

    loss: float  # official loss: mean squared error per removed patch, normalised space
    mse: float  # mean squared error over removed patches, [0, 1] RGB
    psnr: float  # 10 log10(1 / mse), dB, capped at PSNR_CAP_DB
    masked_patches: int


def _denormalise_patches(patches: torch.Tensor, channels: int = 3) -> torch.Tensor:
    """[N, L, p*p*C] normalised -> same shape in [0, 1] units; channels are the fastest axis ((p, q, c) order)."""
    n, length, dim = patches.shape
    pixels = patches.float().reshape(n, length, dim // channels, channels)  # [N, L, p*p, C]
    return denormalize(pixels, dim=-1).reshape(n, length, dim)


def patch_mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """[N, L] per-patch MSE in [0, 1] RGB between predicted and target patches (both [N, L, p*p*3], normalised).

    The prediction is clipped to [0, 1] after de-normalising; the target is not (it is already an image)."""
    pred01 = _denormalise_patches(pred).clamp(0.0, 1.0)
    target01 = _denormalise_patches(target)
    return ((pred01 - target01) ** 2).mean(dim=-1)


def masked_mean(per_patch: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """[N, L] values, [N, L] mask (1 = removed) -> [N] mean over the removed patches."""
    mask = mask.float()
    return (per_patch.float() * mask).sum(dim=1) / mask.sum(dim=1)


def psnr(mse: torch.Tensor) -> torch.Tensor:
    """PSNR in dB for signals in [0, 1], capped at :data:`PSNR_CAP_DB`."""
    floor = 10.0 ** (-PSNR_CAP_DB / 10.0)
    return 10.0 * torch.log10(1.0 / mse.double().clamp_min(floor))
