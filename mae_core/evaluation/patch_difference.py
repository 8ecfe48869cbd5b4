"""Per-patch difference maps: two checkpoints on the SAME masks of one image, patch by patch, ``b - a``.

A per-image metric says which checkpoint is better on average; the map says where. The metric per patch is either
``mse`` (squared error in [0, 1] RGB, :func:`.metrics.patch_mse`) or ``lpips`` (LPIPS's spatial map of the original
against the "reconstruction + visible" image, averaged over the patch's pixels; needs the LPIPS weights). For both,
lower is better, so a negative difference is a patch where ``b`` is better. Only removed patches are compared (a
visible patch is the input itself); they are NaN in the maps.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..modeling.model import MAEConfig, MaskedAutoencoderViT
from ..modeling.patches import mask_to_pixels, paste, patchify, unpatchify
from ..options import CUSTOM_MASK
from .metrics import patch_mse
from .perceptual import load_lpips
from .preprocess import ImageLike, display_levels, preprocess
from .seed_batch import SeedBatch, check_seeds, model_device, run_seeds

PATCH_METRICS = ("mse", "lpips")  # per-patch metrics a difference map can show; lower is better for both


@dataclass(frozen=True)
class PatchDifference:
    """What :func:`patch_difference` returns. K = number of seeds, g = img_size / patch_size."""

    metric: str  # one of PATCH_METRICS
    a: np.ndarray  # [K, g, g] float32, checkpoint a's per-patch metric; NaN on visible patches
    b: np.ndarray  # [K, g, g] float32, checkpoint b's, on the same masks
    diff: np.ndarray  # [K, g, g] float32, b - a; negative = b better; NaN on visible patches
    masks: np.ndarray  # [K, g, g] uint8, 1 = removed (the same for both checkpoints)
    b_better: np.ndarray  # [K] float64: per mask, the fraction of its removed patches where b < a
    seeds: tuple[int, ...]  # () for a drawn mask
    mask_ratio: float  # a drawn mask's own ratio
    strategy: str  # "custom" for a drawn mask

    @property
    def fraction_b_better(self) -> float:
        """Over all K masks' removed patches, the fraction where b's value is lower than a's (ties count for
        neither)."""
        removed = self.masks.astype(bool)
        return float((self.diff[removed] < 0).mean())


def patch_difference(
    model_a: MaskedAutoencoderViT,
    model_b: MaskedAutoencoderViT,
    image: ImageLike,
    mask_ratio: float = 0.75,
    seeds: Iterable[int] = (0,),
    *,
    metric: str = "mse",
    strategy: str = "random",
    crop: bool = False,
    device: torch.device | str | None = None,
    dtype: str = "float32",
    removed: object = None,
) -> PatchDifference:
    """``b - a`` of the per-patch ``metric`` for each mask of ``seeds`` (one packed forward per checkpoint), or
    with ``strategy="custom"`` for the one mask of the drawn patches ``removed`` (indices or a boolean grid, as
    ``reconstruct`` takes them; the ratio is then the drawn one and ``seeds`` unused: the result's ``seeds`` is
    ``()``). ``metric="lpips"`` raises :class:`~.perceptual.LpipsWeightsError` (one line: what to fetch) without
    weights."""
    check_patch_metric(metric)
    ca = check_same_grid(model_a.config, model_b.config)
    drawn = strategy == CUSTOM_MASK
    seeds = (0,) if drawn else check_seeds(seeds)
    device = model_device(model_a, device)
    x = preprocess(image, ca.img_size, crop=crop)  # [3, H, W], once for both
    runs = [
        run_seeds(model, x, mask_ratio, seeds, strategy=strategy, device=device, dtype=dtype, removed=removed)
        for model in (model_a, model_b)
    ]
    return batch_difference(*runs, ca, metric=metric, seeds=() if drawn else seeds, strategy=strategy)


def check_patch_metric(metric: str) -> None:
    """A one-line ``ValueError`` unless ``metric`` is one of :data:`PATCH_METRICS`."""
    if metric not in PATCH_METRICS:
        raise ValueError(f"unknown per-patch metric {metric!r}; accepted: {', '.join(PATCH_METRICS)}")


def check_same_grid(ca: MAEConfig, cb: MAEConfig) -> MAEConfig:
    """``ca`` when the two checkpoints cut images alike (size and patch size), else a one-line ``ValueError``: a
    per-patch difference needs the same patch grid."""
    if (ca.img_size, ca.patch_size) != (cb.img_size, cb.patch_size):
        raise ValueError(
            f"the two checkpoints cut images differently ({ca.img_size} px in {ca.patch_size} px patches vs "
            f"{cb.img_size} px in {cb.patch_size} px): a per-patch difference needs the same patch grid"
        )
    return ca


def batch_difference(
    run_a: SeedBatch, run_b: SeedBatch, config: MAEConfig, *, metric: str, seeds: Iterable[int], strategy: str
) -> PatchDifference:
    """The :class:`PatchDifference` of two checkpoints' reconstructions already run on the same masks (two
    :func:`.seed_batch.run_seeds` batches of one image, model config ``config``): what :func:`patch_difference`
    returns, without running the models again (the app shares the batches with the spread maps)."""
    check_patch_metric(metric)
    if not torch.equal(run_a.mask, run_b.mask):
        raise ValueError("the two batches were run on different masks: a per-patch difference needs the same masks")
    device = run_a.pred.device
    values = [_per_patch(run, metric, config, device) for run in (run_a, run_b)]  # [K, L] each
    grid = config.grid_size
    shape = (run_a.mask.shape[0], grid, grid)
    a, b = (v.reshape(shape).float().cpu().numpy() for v in values)
    masks = run_a.mask.reshape(shape).to(torch.uint8).cpu().numpy()
    return difference_of(a, b, masks, metric=metric, seeds=seeds, mask_ratio=run_a.mask_ratio, strategy=strategy)


def difference_of(
    a: np.ndarray,
    b: np.ndarray,
    masks: np.ndarray,
    *,
    metric: str,
    seeds: Iterable[int],
    mask_ratio: float,
    strategy: str,
) -> PatchDifference:
    """The :class:`PatchDifference` of per-patch values already computed (e.g. two reconstructions'
    ``patch_error``): ``a``, ``b`` [K, g, g] on every patch, ``masks`` [K, g, g] (1 = removed) the masks both were
    measured on. Visible patches become NaN."""
    removed = np.asarray(masks).astype(bool)
    if np.shape(a) != removed.shape or np.shape(b) != removed.shape:
        raise ValueError(f"a {list(np.shape(a))}, b {list(np.shape(b))} and masks {list(removed.shape)} differ")
    a, b = (np.where(removed, np.asarray(v, dtype=np.float32), np.float32(np.nan)) for v in (a, b))
    diff = b - a
    with np.errstate(invalid="ignore", divide="ignore"):  # a mask that removes nothing: NaN
        b_better = ((diff < 0) & removed).sum(axis=(1, 2)) / removed.sum(axis=(1, 2)).astype(np.float64)
    return PatchDifference(
        metric=metric,
        a=a,
        b=b,
        diff=diff,
        masks=removed.astype(np.uint8),
        b_better=b_better,
        seeds=tuple(int(s) for s in seeds),
        mask_ratio=float(mask_ratio),
        strategy=strategy,
    )


def _per_patch(run: SeedBatch, metric: str, config: MAEConfig, device: torch.device) -> torch.Tensor:
    """[K, L] the metric per patch (every patch; the caller keeps the removed ones)."""
    if metric == "mse":
        return patch_mse(run.pred, patchify(run.image, config.patch_size).expand(run.pred.shape[0], -1, -1))
    # the images the lpips metric compares (metrics.measure): the panels' levels / 255
    original = display_levels(run.image) / 255.0  # [1, 3, H, W]
    grid = (config.grid_size, config.grid_size)
    predicted = unpatchify(run.pred, config.patch_size, grid, config.in_chans)  # [K, 3, H, W] normalised
    removed = mask_to_pixels(run.mask, config.patch_size, grid)  # [K, 1, H, W]
    pasted = display_levels(paste(run.image, predicted, removed)) / 255.0
    index = torch.zeros(pasted.shape[0], dtype=torch.long, device=device)
    spatial = load_lpips(device, offline=True).spatial(original, pasted, index)  # [K, 1, H, W]
    return F.avg_pool2d(spatial, config.patch_size).flatten(1)  # [K, L], row-major like the patches
