"""Uncertainty over masks: the mask is the model's only randomness, so reconstructing one image under K masks
shows where the model is sure (every mask that hid a pixel gives it the same colour) and where it guesses.

For each pixel only the masks that REMOVED it count: a visible pixel is copied from the input, not predicted.
``coverage`` says how many of the K masks removed each pixel; the mean and the spread are over those.

:func:`spread_over_masks` and :func:`mean_spread` are the one computation of these numbers from K predictions and
masks: :func:`mask_uncertainty` calls them on one image's K masks, the engine (``evaluate(metrics=["spread"])``, the
sweep's ``spread`` column) on every (image, strategy, ratio) group of its batches.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch

from ..modeling.model import MaskedAutoencoderViT
from ..modeling.patches import mask_to_pixels, unpatchify
from ..options import CUSTOM_MASK
from .norm_pix import denormalise
from .preprocess import ImageLike, denormalize
from .seed_batch import DEFAULT_MASKS, SeedBatch, check_seeds, model_device, run_seeds


@dataclass(frozen=True)
class PatchSpread:
    """Mean, spread and coverage over K masks in patch space, for G groups of K masks each (any leading shape ``...``
    of the arguments of :func:`spread_over_masks`). L = patches, p = patch size, C = channels."""

    mean: torch.Tensor  # [..., L, p*p, C] in [0, 1]: mean reconstruction over the masks that removed the patch; NaN
    # where none did
    spread: torch.Tensor  # [..., L, p*p], [0, 1] RGB units: standard deviation (population, ddof 0) over the masks
    # that removed the patch, root-mean-square over the C channels; 0 where one mask removed it, NaN where none did
    coverage: torch.Tensor  # [..., L] float: how many of the K masks removed the patch


def spread_over_masks(pixels: torch.Tensor, mask: torch.Tensor, channels: int = 3) -> PatchSpread:
    """Per patch pixel, the mean and spread of K reconstructions over the masks that removed it. ``pixels`` [..., K,
    L, p*p*C]: the predictions in the ImageNet-normalised pixel space of the input (channels fastest, (p, q, c)
    order; a norm-pix model's de-normalised first), reconstructed as a viewer sees them (de-normalised, clipped to
    [0, 1]); ``mask`` [..., K, L], 1 = removed. Pure: no model, no I/O."""
    *lead, k, length, dim = pixels.shape
    # in patch space, where a mask is constant over each patch: reconstructions [..., K, L, p*p, C] in [0, 1]
    recon = denormalize(pixels.float().reshape(*lead, k, length, dim // channels, channels), dim=-1).clamp_(0.0, 1.0)
    weight = mask.float()  # [..., K, L]
    coverage = weight.sum(dim=-2)  # [..., L]
    scale = 1.0 / coverage.clamp_min(1.0)[..., None, None]
    mean = torch.einsum("...kl,...klqc->...lqc", weight, recon) * scale  # [..., L, p*p, C]
    deviation = (recon - mean.unsqueeze(-4)) ** 2  # two-pass: no cancellation
    variance = torch.einsum("...kl,...klqc->...lqc", weight, deviation) * scale
    spread = variance.mean(dim=-1).sqrt()  # [..., L, p*p], root-mean-square over the channels
    nothing = coverage == 0
    mean[nothing] = math.nan
    spread[nothing] = math.nan
    return PatchSpread(mean=mean, spread=spread, coverage=coverage)


def mean_spread(spread: torch.Tensor, coverage: torch.Tensor) -> torch.Tensor:
    """An image's mean spread: the mean of ``spread`` [..., L, P] (P pixels per patch; 1 for a per-pixel map) over
    the patches that at least two masks removed (``coverage`` [..., L]; a pixel removed once has no spread to
    measure), in float64; NaN where there are none. Shape ``[...]``."""
    counted = (coverage >= 2).unsqueeze(-1).expand(spread.shape)  # [..., L, P]
    total = torch.where(counted, spread.double(), 0.0).sum(dim=(-2, -1))
    count = counted.sum(dim=(-2, -1))
    return torch.where(count > 0, total / count.clamp_min(1), math.nan)


@dataclass(frozen=True)
class MaskUncertainty:
    """What :func:`mask_uncertainty` returns. K = number of seeds, H = W = the model's img_size, g = H / patch."""

    mean: np.ndarray  # [H, W, 3] float32 in [0, 1]: mean reconstruction over the masks that removed the pixel; NaN
    # where no mask removed it
    spread: np.ndarray  # [H, W] float32, [0, 1] RGB units: standard deviation (population, ddof 0) of the
    # reconstruction over the masks that removed the pixel, root-mean-square over the 3 channels; 0 where one mask
    # removed it, NaN where none did
    coverage: np.ndarray  # [H, W] int32 in 0..K: how many of the K masks removed the pixel
    masks: np.ndarray  # [K, g, g] uint8, 1 = removed: the K masks, in seed order
    seeds: tuple[int, ...]
    mask_ratio: float
    strategy: str

    @property
    def num_masks(self) -> int:
        return len(self.seeds)

    @property
    def mean_spread(self) -> float:
        """The image's mean spread (:func:`mean_spread`): over the pixels that at least two masks removed (a pixel
        seen removed once has no spread to measure); NaN when there are none."""
        pixels = torch.from_numpy(self.spread).reshape(-1, 1)  # each pixel a patch of one pixel
        return float(mean_spread(pixels, torch.from_numpy(self.coverage).reshape(-1)))


def mask_uncertainty(
    model: MaskedAutoencoderViT,
    image: ImageLike | torch.Tensor,
    mask_ratio: float = 0.75,
    seeds: Iterable[int] = range(DEFAULT_MASKS),
    *,
    strategy: str = "random",
    crop: bool = False,
    device: torch.device | str | None = None,
    dtype: str = "float32",
) -> MaskUncertainty:
    """Reconstruct ``image`` under the K masks of ``seeds`` (default 16: seeds 0-15) of ``strategy`` at
    ``mask_ratio`` in one forward pass (:func:`.seed_batch.run_seeds`) and return, per pixel, the mean and spread
    of the reconstruction over the masks that removed it, and its coverage (:func:`spread_over_masks`). A norm-pix
    model's prediction is de-normalised the honest way first, as ``reconstruct`` shows it. ``dtype``: "float32" or
    "bfloat16"."""
    if strategy == CUSTOM_MASK:
        raise ValueError(
            "the spread over masks needs seeded masks (random, block or grid): a drawn mask is one mask, with "
            "nothing to vary"
        )
    seeds = check_seeds(seeds)
    batch = run_seeds(
        model, image, mask_ratio, seeds, strategy=strategy, crop=crop, device=model_device(model, device), dtype=dtype
    )
    return uncertainty_of(model, batch, seeds, strategy)


def uncertainty_of(
    model: MaskedAutoencoderViT, batch: SeedBatch, seeds: Iterable[int], strategy: str
) -> MaskUncertainty:
    """The :class:`MaskUncertainty` of ``model``'s K reconstructions already run (``batch``, from
    :func:`.seed_batch.run_seeds` on ``seeds`` and ``strategy``): what :func:`mask_uncertainty` returns, without
    running the model again (the app shares one batch between the spread and the difference map)."""
    seeds = tuple(int(s) for s in seeds)
    config = model.config
    k, length, dim = batch.pred.shape
    if k != len(seeds):
        raise ValueError(f"the batch holds {k} masks, not the {len(seeds)} of seeds {list(seeds)}")
    channels, p = config.in_chans, config.patch_size
    grid = (config.grid_size, config.grid_size)
    with torch.inference_mode():
        pixels = batch.pred
        if config.norm_pix_loss:  # per-patch normalised predictions, put back into pixels as reconstruct does
            pixels = denormalise(batch.pred, model.patchify(batch.image).expand(k, -1, -1), batch.mask, grid, "honest")
        stats = spread_over_masks(pixels, batch.mask, channels)
    mean_image = unpatchify(stats.mean.reshape(1, length, dim), p, grid, channels)[0]  # [C, H, W]
    spread_image = unpatchify(stats.spread.reshape(1, length, dim // channels), p, grid, 1)[0, 0]  # [H, W]
    coverage_image = mask_to_pixels(stats.coverage, p, grid)[0, 0]  # [H, W]
    return MaskUncertainty(
        mean=mean_image.permute(1, 2, 0).cpu().numpy(),
        spread=spread_image.cpu().numpy(),
        coverage=coverage_image.to(torch.int32).cpu().numpy(),
        masks=batch.mask.reshape(k, *grid).to(torch.uint8).cpu().numpy(),
        seeds=seeds,
        mask_ratio=float(batch.mask_ratio),
        strategy=strategy,
    )
