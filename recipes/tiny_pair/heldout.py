"""Held-out quality of a trained pair: scores on the app's example photos, which training never sees."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from mae_core.evaluation.metrics import MetricPlan, measure
from mae_core.evaluation.preprocess import denormalize, preprocess
from mae_core.modeling.masking import mask_noise
from mae_core.modeling.model import MaskedAutoencoderViT
from mae_core.modeling.patches import mask_to_pixels

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"
DETAIL_ONLY = MetricPlan(names=("detail",))


@dataclass(frozen=True)
class HeldoutScores:
    """Held-out reconstruction quality over (image, seed) pairs; pixels in [0, 1] RGB."""

    mse: float  # mean squared error on the removed patches, mean over the pairs
    mean_fill_mse: float  # the same for a baseline that paints every removed patch the visible patches' mean colour
    detail: float  # mae_core.evaluation.metrics' ``detail`` (1 = as much texture as the photo), median over the
    # pairs (the mean of the middle two for an even count)


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
    """Masked-patch MSE, mean-colour baseline MSE, and ``detail``, each image preprocessed as the app and
    ``mae_core.evaluate`` do (bicubic resize to the model size), so the numbers are the ones a sweep reports."""
    imgs = torch.stack([preprocess(im, model.config.img_size) for im in images])  # [I, 3, S, S] normalised
    per_seed = [_seed_scores(model, imgs, seed, mask_ratio) for seed in seeds]
    mses, fills, details = (torch.cat(column) for column in zip(*per_seed))
    return HeldoutScores(
        mse=mses.mean().item(), mean_fill_mse=fills.mean().item(), detail=details.double().quantile(0.5).item()
    )


def _seed_scores(
    model: MaskedAutoencoderViT, imgs: torch.Tensor, seed: int, mask_ratio: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-image ([I] each) removed-region MSE, mean-colour-fill MSE and detail under one seed's mask."""
    noise = mask_noise(seed, model.num_patches).expand(len(imgs), -1)  # one mask per seed, as the app's
    with torch.no_grad():
        out = model(imgs, mask_ratio, noise)
        index = torch.arange(len(imgs))
        measured = measure(imgs, index, out.pred, out.mask, DETAIL_ONLY, config=model.config, loss=model.forward_loss)
    grid = model.config.grid_size
    removed_px = mask_to_pixels(out.mask, model.config.patch_size, (grid, grid))  # [I, 1, S, S]
    units = denormalize(imgs)
    visible_mean = (units * (1 - removed_px)).sum(dim=(2, 3), keepdim=True) / (1 - removed_px).sum(
        dim=(2, 3), keepdim=True
    )  # [I, 3, 1, 1]
    fill = (((visible_mean - units) ** 2) * removed_px).sum(dim=(1, 2, 3)) / (removed_px.sum(dim=(1, 2, 3)) * 3)
    return measured.mse, fill, measured.optional["detail"]
