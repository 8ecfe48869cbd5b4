"""The composite image the discriminator judges: visible pixels, with the model's
prediction pasted into the removed patches."""

from __future__ import annotations

import torch

from mae_core.modeling.model import MaskedAutoencoderViT
from mae_core.modeling.patches import mask_to_pixels, paste, unpatchify


def reconstruction(model: MaskedAutoencoderViT, pred: torch.Tensor) -> torch.Tensor:
    """The model's prediction [N, L, p*p*C] as images [N, C, H, W] (float32, still normalised)."""
    grid = model.config.grid_size
    return unpatchify(pred.float(), model.config.patch_size, (grid, grid), model.config.in_chans)


def composite(model: MaskedAutoencoderViT, imgs: torch.Tensor, pred: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Visible pixels of ``imgs`` with the prediction pasted into the removed patches; [N, 3, H, W] normalised."""
    removed = mask_to_pixels(mask, model.config.patch_size)  # [N, 1, H, W], 1 = removed
    return paste(imgs, reconstruction(model, pred), removed)
