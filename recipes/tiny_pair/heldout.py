"""Held-out quality of a trained pair: scores on the app's example photos, which training never sees."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from mae_core.masking import mask_noise
from mae_core.model import MaskedAutoencoderViT
from mae_core.patches import mask_to_pixels
from mae_core.preprocess import denormalize, normalize
from recipes.tiny_pair.pixels import reconstruction

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"


@dataclass(frozen=True)
class HeldoutScores:
    """Held-out reconstruction quality, averaged over (image, seed) pairs; pixels in [0, 1] RGB."""

    mse: float  # mean squared error on the removed patches
    mean_fill_mse: float  # the same for a baseline that paints every removed patch the visible patches' mean colour
    gradient: float  # mean gradient magnitude inside the removed region of the reconstruction (texture energy)


def example_images(folder: Path = EXAMPLES_DIR) -> list[Image.Image]:
    """The app's example photos (never used in training): the held-out set."""
    images = []
    for path in sorted(folder.glob("*.jpg")):
        with Image.open(path) as img:
            images.append(img.convert("RGB"))
    return images


def heldout_scores(
    model: MaskedAutoencoderViT, images: list[Image.Image], seeds: list[int], mask_ratio: float = 0.75
) -> HeldoutScores:
    """Masked-patch MSE, mean-colour baseline MSE, and texture energy; images resized (bicubic) to the model size."""
    units = _unit_batch(images, model.config.img_size)  # [I, 3, S, S]
    per_seed = [_seed_scores(model, units, seed, mask_ratio) for seed in seeds]
    mses, fills, grads = (torch.cat(column) for column in zip(*per_seed))
    return HeldoutScores(mse=mses.mean().item(), mean_fill_mse=fills.mean().item(), gradient=grads.mean().item())


def _unit_batch(images: list[Image.Image], size: int) -> torch.Tensor:
    """Images resized (bicubic) to ``size`` x ``size`` -> [I, 3, size, size] float32 in [0, 1]."""
    arrays = [np.asarray(im.convert("RGB").resize((size, size), Image.Resampling.BICUBIC)).copy() for im in images]
    return torch.stack([torch.from_numpy(a).permute(2, 0, 1).float() / 255.0 for a in arrays])


def _seed_scores(
    model: MaskedAutoencoderViT, units: torch.Tensor, seed: int, mask_ratio: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-image ([I] each) removed-region MSE, mean-colour-fill MSE and gradient magnitude under one seed's mask."""
    noise = mask_noise(seed, model.num_patches).expand(len(units), -1)  # one mask per seed, as the app's
    with torch.no_grad():
        out = model(normalize(units), mask_ratio, noise)
    recon = denormalize(reconstruction(model, out.pred)).clamp(0.0, 1.0)  # [I, 3, S, S]
    removed_px = mask_to_pixels(out.mask, model.config.patch_size)  # [I, 1, S, S]
    removed = removed_px.sum(dim=(1, 2, 3)) * 3  # values per image in the removed region
    mse = (((recon - units) ** 2) * removed_px).sum(dim=(1, 2, 3)) / removed
    visible_mean = (units * (1 - removed_px)).sum(dim=(2, 3), keepdim=True) / (1 - removed_px).sum(
        dim=(2, 3), keepdim=True
    )  # [I, 3, 1, 1]
    fill = (((visible_mean - units) ** 2) * removed_px).sum(dim=(1, 2, 3)) / removed
    pasted = units * (1 - removed_px) + recon * removed_px
    return mse, fill, _removed_gradient(pasted, removed_px)


def _removed_gradient(pasted: torch.Tensor, removed_px: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between neighbouring pixels [I], counting only pairs of two removed pixels, so the
    seams with visible patches do not count."""
    dy = (pasted[:, :, 1:, :] - pasted[:, :, :-1, :]).abs()
    dx = (pasted[:, :, :, 1:] - pasted[:, :, :, :-1]).abs()
    my = removed_px[:, :, 1:, :] * removed_px[:, :, :-1, :]
    mx = removed_px[:, :, :, 1:] * removed_px[:, :, :, :-1]
    pairs = 3 * (my.sum(dim=(1, 2, 3)) + mx.sum(dim=(1, 2, 3)))  # [I] differences counted per image
    return ((dy * my).sum(dim=(1, 2, 3)) + (dx * mx).sum(dim=(1, 2, 3))) / pairs
