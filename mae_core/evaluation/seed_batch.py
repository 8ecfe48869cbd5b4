"""K masks of one image in one forward pass: the K seeds of a strategy at one ratio as a single packed batch.

What :mod:`.uncertainty` (mean and spread over masks) and :mod:`.patch_difference` (two checkpoints on the same
masks) build on. Row ``k`` uses the noise ``mask_noise(seeds[k], L, strategy=strategy)[0]``, the same as
:func:`.engine.evaluate`'s cell of that seed, so its numbers agree with the engine's to float rounding. A drawn mask
(``strategy="custom"`` with its patches) is one row, as ``reconstruct`` draws it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch

from ..modeling.masking import chosen_masks
from ..modeling.model import MaskedAutoencoderViT
from ..options import check_seed
from .packed import cached_pack_weights, compute_dtype, packed_forward
from .prefetch import prefetch
from .preprocess import ImageLike, preprocess

DEFAULT_MASKS = 16  # K, the number of seeds when the caller does not give them


@dataclass(frozen=True)
class SeedBatch:
    """One model's reconstructions of one image under K masks. H = W = img_size, L = patches, p = patch size."""

    image: torch.Tensor  # [1, 3, H, W] ImageNet-normalised model input
    pred: torch.Tensor  # [K, L, p*p*3] float32 predictions, normalised pixel-target space
    mask: torch.Tensor  # [K, L] float32, 1 = removed
    mask_ratio: float  # the ratio asked for, or a drawn mask's own (mask_ratio_for_count)


def check_seeds(seeds: Iterable[int]) -> tuple[int, ...]:
    """Seeds as a tuple of distinct ints; ``ValueError`` naming an empty list, a bad seed or a repeated one."""
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Iterable):
        raise ValueError(f"seeds must be a non-empty sequence of integers, got {seeds!r}")
    checked = tuple(check_seed(s) for s in seeds)
    if not checked:
        raise ValueError("seeds is empty; give at least one seed")
    repeated = sorted({s for s in checked if checked.count(s) > 1})
    if repeated:
        raise ValueError(f"seed {repeated[0]} is given more than once; each mask counts once, give distinct seeds")
    return checked


def model_device(model: MaskedAutoencoderViT, device: torch.device | str | None) -> torch.device:
    return torch.device(device) if device is not None else next(model.parameters()).device


def run_seeds(
    model: MaskedAutoencoderViT,
    image: ImageLike | torch.Tensor,
    mask_ratio: float,
    seeds: tuple[int, ...],
    *,
    strategy: str = "random",
    crop: bool = False,
    device: torch.device | None = None,
    dtype: str = "float32",
    removed: object = None,
) -> SeedBatch:
    """``model`` on ``image`` under the masks of ``seeds`` (checked by :func:`check_seeds`) in ONE packed forward;
    with ``strategy="custom"``, under the one mask of the drawn patches ``removed`` (K = 1, ``seeds`` unused;
    :func:`~mae_core.modeling.masking.chosen_masks`). ``image``: a path, PIL image or array (preprocessed at the
    model's size), or a normalised [3, H, W] tensor."""
    config = model.config
    weights_dtype = compute_dtype(dtype)
    device = model_device(model, device)
    if isinstance(image, torch.Tensor) and tuple(image.shape) != (3, config.img_size, config.img_size):
        raise ValueError(
            f"an image tensor must be normalised [3, {config.img_size}, {config.img_size}] for this model, "
            f"got shape {list(image.shape)}"
        )

    def load(source: ImageLike | torch.Tensor) -> torch.Tensor:  # [1, 3, H, W] normalised
        if isinstance(source, torch.Tensor):
            return source.to(torch.float32, copy=True).unsqueeze(0)  # never aliases the caller's tensor
        return preprocess(source, config.img_size, crop=crop).unsqueeze(0)

    grid = (config.grid_size, config.grid_size)
    noise, mask_ratio = chosen_masks(strategy, seeds, mask_ratio, grid, removed)  # [K, L]
    rows = noise.shape[0]
    # the image is read on the prefetch thread and the pass runs while that thread lives, exactly as in the
    # engine: same threading, same speed per item (on a busy 2-core CPU the engine's passes ran up to 1.5x faster
    # than the same pass called from a process with no second torch thread)
    for _, x in prefetch([image], load):
        x = x.to(device)
        with torch.inference_mode():
            weights = cached_pack_weights(model, device, weights_dtype)
            out = packed_forward(weights, x, [0] * rows, [mask_ratio] * rows, noise)
    return SeedBatch(x, out.pred, out.mask, float(mask_ratio))
