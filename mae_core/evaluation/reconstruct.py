"""One image, one mask (a seeded strategy at a ratio, or drawn patches): the four panels of the official demo
plus metrics and a per-patch error map."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch

from ..modeling.attention import AttentionMaps, AttentionRecord, attention_maps, record_attention
from ..modeling.masking import chosen_masks, removed_bitmap
from ..modeling.model import MAX_IMAGE_SIDE, MAEOutput, MaskedAutoencoderViT
from ..modeling.patches import mask_to_pixels, paste
from ..options import SEED_METRICS
from .metrics import Metrics, measure, patch_mse, plan_metrics, warn_if_skipped
from .norm_pix import DenormMode, NormPixGap, check_denorm, denormalise, norm_pix_gap
from .preprocess import ImageLike, ImageSize, image_hw, load_image, native_size, preprocess, to_uint8

PANEL_TITLES = ("original", "masked", "reconstruction", "reconstruction + visible")
NATIVE_SIZE = "native"  # reconstruct(size=...): the image's own aspect and size (see preprocess.native_size)


@dataclass(frozen=True)
class Reconstruction:
    """What :func:`reconstruct` returns. H x W: the size reconstructed (the model's img_size square by default),
    g_h x g_w = H/p x W/p patches."""

    original: np.ndarray  # [H, W, 3] uint8, the model's input after resizing
    masked: np.ndarray  # [H, W, 3] uint8, removed patches at 0 in normalised space (the ImageNet mean colour)
    reconstruction: np.ndarray  # [H, W, 3] uint8, the model's prediction for every patch
    reconstruction_visible: np.ndarray  # [H, W, 3] uint8, prediction on removed patches, input on visible ones
    mask: np.ndarray  # [g_h, g_w] uint8, 1 = removed
    patch_error: np.ndarray  # [g_h, g_w] float32, per-patch MSE in [0, 1] RGB (visible patches included)
    metrics: Metrics
    mask_ratio: float  # for a drawn mask, the ratio of the drawn patches (mask_ratio_for_count)
    seed: int
    strategy: str = "random"  # a name of MASK_STRATEGIES, or "custom" for a drawn mask
    attention: AttentionMaps | None = None  # with ``attentions=True``: the encoder's and decoder's attention
    denorm: DenormMode | None = None  # norm-pix models: how the panels and metrics were de-normalised; else None
    norm_pix_gap: NormPixGap | None = None  # norm-pix models: removed-patch MSE, honest vs oracle; else None

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
    strategy: str = "random",
    removed: object = None,
    crop: bool = False,
    device: torch.device | str | None = None,
    metrics: Iterable[str] | None = None,
    attentions: bool = False,
    size: ImageSize | str | None = None,
    denorm: DenormMode | None = None,
) -> Reconstruction:
    """Mask ``image`` with the noise of ``seed`` under ``strategy`` and reconstruct it, in float32 on the model's
    device. ``strategy="custom"`` removes exactly the patches ``removed`` (indices or a boolean [g, g] grid, see
    :func:`~mae_core.modeling.masking.mask_from_patches`); ``mask_ratio`` is then the drawn one and the argument is
    ignored. ``metrics`` chooses the optional metrics as :func:`.engine.iter_evaluate` does (same default).
    ``attentions=True`` also returns the attention probabilities of every block and their rollout
    (:class:`~mae_core.modeling.attention.AttentionMaps`), computed on the side of the same forward pass.

    ``size``: the size to reconstruct at, a side or (H, W), each a multiple of the patch size up to
    :data:`~mae_core.modeling.model.MAX_IMAGE_SIDE` (``ValueError`` otherwise); the model's own square by default;
    ``"native"`` (:data:`NATIVE_SIZE`): the image's own size and aspect, rounded to patches and scaled down to fit
    the limit (:func:`.preprocess.native_size`).
    Other sizes use sin-cos position embeddings generated for their patch grid (exact, see
    :meth:`~mae_core.modeling.model.MaskedAutoencoderViT.position_embeddings`); ``crop`` then takes the largest
    central region of that aspect ratio, else the image is resized to it.

    ``denorm``: for a norm-pix model (``config.norm_pix_loss``), how its per-patch normalised prediction is put back
    into pixels (:mod:`.norm_pix`): ``"honest"`` (the default: statistics from the visible patches only) or
    ``"oracle"`` (each patch's true statistics: leaks the answer). The panels and the pixel metrics use it, ``loss``
    stays the model's own; ``norm_pix_gap`` gives both modes' removed-patch MSE. A pixel model takes no mode."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    plan = plan_metrics(metrics, device=device)
    seed_metric = next((n for n in plan.names if n in SEED_METRICS), None)
    if seed_metric is not None:
        raise ValueError(
            f"{seed_metric} is measured over several masks, not one reconstruction: use mask_uncertainty(model, "
            f"image, ratio, seeds) or evaluate(..., metrics=[{seed_metric!r}])"
        )
    warn_if_skipped(plan)
    config = model.config
    if isinstance(size, str):
        if size != NATIVE_SIZE:
            raise ValueError(f"size must be a side, (height, width) or {NATIVE_SIZE!r}, got {size!r}")
        image = load_image(image)
        size = native_size(*image.size, config.patch_size, MAX_IMAGE_SIDE)
    height, width = image_hw(config.img_size if size is None else size)
    grid = config.grid_for(height, width)  # (g_h, g_w)
    if config.norm_pix_loss:
        denorm = check_denorm("honest" if denorm is None else denorm)
    elif denorm is not None:
        raise ValueError(f"denorm={denorm!r} is for norm-pix models; this model predicts pixels directly")
    noise, mask_ratio = chosen_masks(strategy, (seed,), mask_ratio, grid, removed)
    x = preprocess(image, (height, width), crop=crop).unsqueeze(0).to(device)  # [1, 3, H, W]
    with torch.inference_mode():
        with record_attention(model) if attentions else nullcontext() as record:
            out = model(x, mask_ratio=mask_ratio, noise=noise)
        target = model.patchify(x)
        pixels, gap = out.pred, None  # pixels: the prediction in the input's normalised pixel space
        if denorm is not None:
            pixels = denormalise(out.pred, target, out.mask, grid, denorm)
            gap = norm_pix_gap(out.pred, target, out.mask, grid)[0]
        per_patch = patch_mse(pixels, target)  # [1, L]
        index = torch.zeros(1, dtype=torch.long, device=device)
        measured = measure(x, index, out.pred, out.mask, plan, config=config, loss=model.forward_loss, pixels=pixels)
        pred_img = model.unpatchify(pixels.float(), grid)  # [1, 3, H, W]
        mask_img = mask_to_pixels(out.mask, config.patch_size, grid)  # [1, 1, H, W]
        masked = x * (1 - mask_img)
        pasted = paste(x, pred_img, mask_img)
    return Reconstruction(
        original=to_uint8(x[0]),
        masked=to_uint8(masked[0]),
        reconstruction=to_uint8(pred_img[0]),
        reconstruction_visible=to_uint8(pasted[0]),
        mask=out.mask[0].reshape(grid).to(torch.uint8).cpu().numpy(),
        patch_error=per_patch[0].reshape(grid).float().cpu().numpy(),
        metrics=measured.item(0),
        mask_ratio=float(mask_ratio),
        seed=int(seed),
        strategy=strategy,
        attention=_attention(record, out, grid) if attentions else None,
        denorm=denorm,
        norm_pix_gap=gap,
    )


def _attention(record: AttentionRecord, out: MAEOutput, grid: tuple[int, int]) -> AttentionMaps:
    """The one image's attention maps from the pass that gave ``out``."""
    kept = int(out.mask.shape[1] - out.mask[0].sum().item())
    return attention_maps(record, out.ids_restore, kept, grid)


def masked_preview(
    image: ImageLike, removed: object, *, img_size: ImageSize, patch_size: int, crop: bool = False
) -> np.ndarray:
    """[H, W, 3] uint8: the "masked" panel :func:`reconstruct` would show for the drawn patches ``removed``
    (indices or a boolean grid) at ``img_size`` (a side or (H, W)), without running a model: what will be hidden,
    before running."""
    height, width = image_hw(img_size)
    if height % patch_size or width % patch_size:
        shown = img_size if isinstance(img_size, int) else f"{height}x{width}"
        raise ValueError(f"image size {shown} is not divisible by patch size {patch_size}")
    grid = (height // patch_size, width // patch_size)
    x = preprocess(image, (height, width), crop=crop).unsqueeze(0)  # [1, 3, H, W]
    mask = torch.from_numpy(removed_bitmap(removed, grid[0] * grid[1], grid=grid)).to(x.dtype)  # [L], 1 = removed
    return to_uint8((x * (1 - mask_to_pixels(mask, patch_size, grid)))[0])
