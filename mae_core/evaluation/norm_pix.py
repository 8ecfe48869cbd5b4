"""Showing a norm-pix model's prediction: putting back each patch's mean and spread.

A model trained with ``norm_pix_loss`` (the official ``mae_pretrain_vit_*_full.pth``) predicts every patch
normalised by its own statistics: ``(patch - mean) / sqrt(var + 1e-6)``, one mean and one (unbiased) variance over
the patch's p*p*3 values in ImageNet-normalised space. To see an image, those statistics must be put back, and a
removed patch's true statistics are part of the answer. Two modes:

- ``oracle``: every patch's TRUE mean and variance, as the official demo's users do (MAE-pytorch issue 40). It
  leaks the answer: the removed patches' brightness and contrast come from the very pixels the model was not shown.
- ``honest``: only what the model was shown. A visible patch uses its own statistics; a removed patch's mean and
  standard deviation are the inverse-distance weighted average (weights ``1 / d**3``, d the distance between patch
  centres on the grid) of the visible patches' ones. The removed pixels are replaced by zeros before any statistic
  is taken, so nothing computed here can depend on them.

``norm_pix_gap`` measures what the leak is worth: the removed-patch MSE of the honest image minus the oracle's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import torch

from .metrics import masked_mean, patch_mse

DenormMode = Literal["honest", "oracle"]
DENORM_MODES: tuple[DenormMode, ...] = get_args(DenormMode)
NORM_PIX_EPS = 1.0e-6  # the official norm-pix epsilon: target = (x - mean) / sqrt(var + eps)
HONEST_DISTANCE_POWER = 3  # inverse-distance weights 1 / d**3: the best of powers 1-6 at estimating the removed
# patches' means and spreads on the example photos (224 px, ratio 0.75, 5 seeds; 2 weighs far patches too much)


def check_denorm(mode: object) -> DenormMode:
    """A de-normalisation mode from :data:`DENORM_MODES`; ``ValueError`` naming the value otherwise."""
    if mode not in DENORM_MODES:
        raise ValueError(f"unknown de-normalisation mode {mode!r}; accepted: {', '.join(DENORM_MODES)}")
    return mode


def patch_stats(patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, std) [N, L, 1] of patches [N, L, D] as the norm-pix target uses them: std = sqrt(unbiased var + eps)."""
    patches = patches.float()
    return patches.mean(dim=-1, keepdim=True), (patches.var(dim=-1, keepdim=True) + NORM_PIX_EPS).sqrt()


def honest_stats(patches: torch.Tensor, mask: torch.Tensor, grid: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, std) [N, L, 1] from the visible patches only. ``patches`` [N, L, D] normalised, ``mask`` [N, L]
    (1 = removed), ``grid`` (g_h, g_w). Visible patches keep their own statistics; removed ones get the
    ``1 / d**3``-weighted average of the visible patches' (module docstring)."""
    visible = mask == 0  # [N, L]
    if not visible.any(dim=1).all():
        raise ValueError("honest de-normalisation needs at least one visible patch per image")
    shown = torch.where(visible.unsqueeze(-1), patches.float(), torch.zeros((), device=patches.device))
    mean, std = patch_stats(shown)  # removed patches: statistics of zeros, never used below
    rows, cols = grid
    index = torch.arange(rows * cols, device=patches.device)
    y, x = (index // cols).float(), (index % cols).float()
    distance = ((y[:, None] - y[None]) ** 2 + (x[:, None] - x[None]) ** 2).sqrt()  # [L, L]
    inverse = distance.clamp_min(1.0) ** -HONEST_DISTANCE_POWER  # the diagonal is never a visible neighbour of itself
    weights = inverse.unsqueeze(0) * visible.unsqueeze(1).float()  # [N, L target, L source], visible sources only
    weights = weights / weights.sum(dim=-1, keepdim=True)
    estimated_mean = weights @ mean  # [N, L, 1]
    estimated_std = weights @ std
    keep_own = visible.unsqueeze(-1)
    return torch.where(keep_own, mean, estimated_mean), torch.where(keep_own, std, estimated_std)


def denormalise(
    pred: torch.Tensor, imgs_patches: torch.Tensor, mask: torch.Tensor, grid: tuple[int, int], mode: DenormMode
) -> torch.Tensor:
    """A norm-pix prediction [N, L, D] back in the images' ImageNet-normalised pixel space: ``pred * std + mean``
    with every patch's statistics from ``mode``. ``imgs_patches`` [N, L, D]: the input, patchified; ``honest``
    reads only its visible patches (``mask`` [N, L], 1 = removed; ``grid`` (g_h, g_w))."""
    if check_denorm(mode) == "oracle":
        mean, std = patch_stats(imgs_patches)
    else:
        mean, std = honest_stats(imgs_patches, mask, grid)
    return pred.float() * std + mean


@dataclass(frozen=True)
class NormPixGap:
    """What the oracle's leak is worth for one image: removed-patch MSE ([0, 1] RGB) of each mode, and their gap."""

    oracle_mse: float  # true statistics of the removed patches (leaks the answer)
    honest_mse: float  # statistics from the visible patches only

    @property
    def gap(self) -> float:
        """``honest_mse - oracle_mse``: how much better the images look when the answer's statistics are given."""
        return self.honest_mse - self.oracle_mse


def norm_pix_gap(
    pred: torch.Tensor, imgs_patches: torch.Tensor, mask: torch.Tensor, grid: tuple[int, int]
) -> list[NormPixGap]:
    """One :class:`NormPixGap` per image of a norm-pix prediction ``pred`` [N, L, D] (arguments as
    :func:`denormalise`)."""
    mse = {
        mode: masked_mean(patch_mse(denormalise(pred, imgs_patches, mask, grid, mode), imgs_patches), mask)
        for mode in DENORM_MODES
    }
    return [NormPixGap(float(o), float(h)) for o, h in zip(mse["oracle"].tolist(), mse["honest"].tolist())]
