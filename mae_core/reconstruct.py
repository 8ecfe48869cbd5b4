"""One image, one mask ratio, one seed: the four panels of the official demo plus metrics and a per-patch error map."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .masking import mask_noise
from .metrics import Metrics, masked_mean, patch_mse, psnr
from .model import MaskedAutoencoderViT
from .patches import mask_to_pixels
from .preprocess import ImageLike, preprocess, to_uint8

PANEL_TITLES = ("original", "masked", "reconstruction", "reconstruction + visible")


@dataclass(frozen=True)
class Reconstruction:
    """What :func:`reconstruct` returns. H = W = the model's img_size, g = img_size / patch_size."""

    original: np.ndarray  # [H, W, 3] uint8, the model's input after resizing
    masked: np.ndarray  # [H, W, 3] uint8, removed patches at 0 in normalised space (the ImageNet mean colour)
    reconstruction: np.ndarray  # [H, W, 3] uint8, the model's prediction for every patch
    reconstruction_visible: np.ndarray  # [H, W, 3] uint8, prediction on removed patches, input on visible ones
    mask: np.ndarray  # [g, g] uint8, 1 = removed
    patch_error: np.ndarray  # [g, g] float32, per-patch MSE in [0, 1] RGB (visible patches included)
    metrics: Metrics
    mask_ratio: float
    seed: int

    def panels(self) -> list[tuple[np.ndarray, str]]:
        """The four panels with their titles, in the official order."""
        images = (self.original, self.masked, self.reconstruction, self.reconstruction_visible)
        return list(zip(images, PANEL_TITLES))


def reconstruct(
    model: MaskedAutoencoderViT,
    image: ImageLike,
    mask_ratio: float = 0.75,
    seed: int = 0,
    *,
    crop: bool = False,
    device: torch.device | str | None = None,
) -> Reconstruction:
    """Mask ``image`` with the noise of ``seed`` and reconstruct it. Runs in float32 on the model's device."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    config = model.config
    grid = config.grid_size
    x = preprocess(image, config.img_size, crop=crop).unsqueeze(0).to(device)  # [1, 3, H, W]
    noise = mask_noise(seed, config.num_patches)
    with torch.inference_mode():
        out = model(x, mask_ratio=mask_ratio, noise=noise)
        target = model.patchify(x)
        per_patch = patch_mse(out.pred, target)  # [1, L]
        mse = masked_mean(per_patch, out.mask)
        pred_img = model.unpatchify(out.pred.float())  # [1, 3, H, W]
        mask_img = mask_to_pixels(out.mask, config.patch_size, (grid, grid))  # [1, 1, H, W]
        masked = x * (1 - mask_img)
        pasted = masked + pred_img * mask_img
    return Reconstruction(
        original=to_uint8(x[0]),
        masked=to_uint8(masked[0]),
        reconstruction=to_uint8(pred_img[0]),
        reconstruction_visible=to_uint8(pasted[0]),
        mask=out.mask[0].reshape(grid, grid).to(torch.uint8).cpu().numpy(),
        patch_error=per_patch[0].reshape(grid, grid).float().cpu().numpy(),
        metrics=Metrics(
            loss=float(out.loss[0]),
            mse=float(mse[0]),
            psnr=float(psnr(mse)[0]),
            masked_patches=int(out.mask[0].sum()),
        ),
        mask_ratio=float(mask_ratio),
        seed=int(seed),
    )
