"""Pixel space for the recipe's training and scoring: ImageNet normalisation and its inverse, patch masks as pixel
masks, and the composite image (visible pixels, prediction pasted into the removed patches)."""

from __future__ import annotations

import torch

from mae_core.model import MaskedAutoencoderViT
from mae_core.patches import unpatchify
from mae_core.preprocess import IMAGENET_MEAN, IMAGENET_STD


def normalize(unit: torch.Tensor) -> torch.Tensor:
    """[N, 3, H, W] in [0, 1] -> ImageNet-normalised."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32).view(1, 3, 1, 1)
    return (unit - mean) / std


def to_unit(imgs: torch.Tensor) -> torch.Tensor:
    """ImageNet-normalised [N, 3, H, W] -> [0, 1], clipped."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32).view(1, 3, 1, 1)
    return (imgs * std + mean).clamp(0.0, 1.0)


def pixel_mask(mask: torch.Tensor, patch_size: int, grid: int) -> torch.Tensor:
    """Patch mask [N, grid*grid] (1 = removed) -> pixel mask [N, 1, grid*p, grid*p]."""
    p = patch_size
    return mask.view(-1, grid, 1, grid, 1).expand(-1, -1, p, -1, p).reshape(-1, 1, grid * p, grid * p)


def reconstruction(model: MaskedAutoencoderViT, pred: torch.Tensor) -> torch.Tensor:
    """The model's prediction [N, L, p*p*C] as images [N, C, H, W] (float32, still normalised)."""
    grid = model.config.grid_size
    return unpatchify(pred.float(), model.config.patch_size, (grid, grid), model.config.in_chans)


def composite(model: MaskedAutoencoderViT, imgs: torch.Tensor, pred: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Visible pixels of ``imgs`` with the prediction pasted into the removed patches; [N, 3, H, W] normalised."""
    removed = pixel_mask(mask, model.config.patch_size, model.config.grid_size)
    return imgs * (1.0 - removed) + reconstruction(model, pred) * removed
