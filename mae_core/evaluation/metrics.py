"""Per-image metrics of a reconstruction.

``loss`` is the official objective (normalised space). ``mse``/``psnr`` are in [0, 1] RGB: the prediction is
de-normalised with the ImageNet mean/std and clipped to [0, 1] (what a viewer sees), the target is the model input
de-normalised. These three cover the removed patches only.

The image metrics compare the "original" panel with the "reconstruction + visible" (*pasted*) panel - the
original's visible patches, the reconstruction in the removed ones, at the model's resolution, as the 0-255 levels
the panels show (``preprocess.display_levels``) divided by 255 - so that a model is not judged by its own training
objective alone:

- ``ssim``: the SSIM map (Gaussian window, sigma 1.5, 11 taps, K1 0.01, K2 0.03, data range 1, population
  covariances, image borders mirrored as scipy's ``reflect`` mode does) averaged over the removed pixels and the
  three channels - the removed-pixel mean of ``skimage.metrics.structural_similarity(..., channel_axis=2,
  data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, full=True)``'s map, computed with
  kornia's batched separable filters.
- ``detail``: the mean luminance gradient inside the removed region of the pasted image divided by the same of the
  original (see :func:`removed_gradient`): 1 means as much detail as the truth, below 1 blurrier, above 1 invented
  texture. A truth flatter than one display level per pixel step is floored there (:data:`DETAIL_FLOOR`), so
  ``detail`` stays within [0, 255].
- ``lpips`` (:mod:`mae_core.evaluation.perceptual`) and ``visible_loss`` (the official loss over the visible patches:
  the model's ``forward_loss``, handed to :func:`measure`, weighted by ``1 - mask``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from ..modeling.patches import mask_to_pixels, paste, patchify, unpatchify
from ..options import (
    BASE_METRICS,
    DEFAULT_METRICS,
    SWEEP_METRICS,
    check_metric_names,
)
from .perceptual import Lpips, LpipsWeightsError, load_lpips, lpips_weights_present
from .perceptual import missing_weights_message as _missing_lpips_message
from .preprocess import denormalize, display_levels

if TYPE_CHECKING:
    from ..modeling.model import MAEConfig

# the official loss, a model's ``forward_loss``: (imgs [N, 3, H, W] normalised, pred [N, L, p*p*3], weights [N, L])
# -> [N], the squared error per patch averaged over the weighted patches, in the model's target space
PatchLoss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]

PSNR_CAP_DB = 100.0  # an exact reconstruction reports 100 dB instead of infinity (keeps CSV/JSON finite)


@dataclass(frozen=True)
class Metrics:
    """One reconstruction's measurement (one image, one mask) as Python numbers: what ``reconstruct`` reports and
    :meth:`BatchMetrics.item` gives. An optional metric that was not computed is None."""

    loss: float  # official loss: mean squared error per removed patch, normalised space
    mse: float  # mean squared error over removed patches, [0, 1] RGB
    psnr: float  # 10 log10(1 / mse), dB, capped at PSNR_CAP_DB
    masked_patches: int
    ssim: float | None = None  # mean SSIM over the removed pixels, original vs pasted; 1 = identical
    lpips: float | None = None  # LPIPS AlexNet v0.1, original vs pasted; 0 = identical
    detail: float | None = None  # removed-region luminance gradient, pasted / original; 1 = as much detail
    visible_loss: float | None = None  # official loss over the visible patches, normalised space


def _denormalise_patches(patches: torch.Tensor, channels: int = 3) -> torch.Tensor:
    """[N, L, p*p*C] normalised -> same shape in [0, 1] units; channels are the fastest axis ((p, q, c) order)."""
    n, length, dim = patches.shape
    pixels = patches.float().reshape(n, length, dim // channels, channels)  # [N, L, p*p, C]
    return denormalize(pixels, dim=-1).reshape(n, length, dim)


def patch_mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """[N, L] per-patch MSE in [0, 1] RGB between predicted and target patches (both [N, L, p*p*3], normalised).

    The prediction is clipped to [0, 1] after de-normalising; the target is not (it is already an image)."""
    pred01 = _denormalise_patches(pred).clamp(0.0, 1.0)
    target01 = _denormalise_patches(target)
    return ((pred01 - target01) ** 2).mean(dim=-1)


def masked_mean(per_patch: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """[N, L] values, [N, L] mask (1 = removed) -> [N] mean over the removed patches."""
    mask = mask.float()
    return (per_patch.float() * mask).sum(dim=1) / mask.sum(dim=1)


def psnr(mse: torch.Tensor) -> torch.Tensor:
    """PSNR in dB for signals in [0, 1], capped at :data:`PSNR_CAP_DB`."""
    floor = 10.0 ** (-PSNR_CAP_DB / 10.0)
    return 10.0 * torch.log10(1.0 / mse.double().clamp_min(floor))


SSIM_SIGMA = 1.5
SSIM_WINDOW = 2 * int(3.5 * SSIM_SIGMA + 0.5) + 1  # 11 taps: scipy's gaussian_filter truncates at 3.5 sigma
SSIM_CHUNK = 32  # images per SSIM call: bounds the memory of the filtered moment maps (about 6 per channel)
DETAIL_EPS = 1e-6  # added to both gradients: the ratio of two textured regions stays finite
# where the truth's removed region is flatter than one display level per pixel step (a one-colour image, a 1x1
# photo upscaled), its gradient says nothing to divide by: both gradients are raised to this floor, so a flat
# truth scores 1 for a flat reconstruction and at most 1 / DETAIL_FLOOR (255) for invented texture
DETAIL_FLOOR = 1.0 / 255.0


def ssim_removed(original: torch.Tensor, pasted: torch.Tensor, removed: torch.Tensor) -> torch.Tensor:
    """[N] mean of the SSIM map over the removed pixels (and the 3 channels); images [N, 3, H, W] in [0, 1]."""
    import kornia.metrics  # imported on first use: kornia's import costs about a second

    radius = SSIM_WINDOW // 2
    means = []
    for start in range(0, original.shape[0], SSIM_CHUNK):
        a, b = original[start : start + SSIM_CHUNK].float(), pasted[start : start + SSIM_CHUNK].float()
        n, c, h, w = a.shape
        # each (image, channel) as one channel of a single image: kornia then filters all of them in one
        # depthwise pass (channels-last on the CPU) instead of a 3-channel pass per image
        a = _mirror_pad(a, radius).reshape(1, n * c, h + 2 * radius, w + 2 * radius)
        b = _mirror_pad(b, radius).reshape(1, n * c, h + 2 * radius, w + 2 * radius)
        # "valid" windows over the mirrored border: every window of the original size lies inside the padding,
        # so the map is exactly the scipy-"reflect" one (kornia's own padding mirrors without the edge pixel)
        ssim_map = kornia.metrics.ssim(a, b, SSIM_WINDOW, max_val=1.0, eps=0.0, padding="valid")
        ssim_map = ssim_map.reshape(n, c, h, w).mean(dim=1, keepdim=True)  # [n, 1, H, W]
        means.append(_removed_mean(ssim_map, removed[start : start + SSIM_CHUNK]))
    return torch.cat(means)


def _mirror_pad(x: torch.Tensor, radius: int) -> torch.Tensor:
    """[N, C, H, W] -> [N, C, H + 2r, W + 2r], mirrored about the edge with the edge pixel repeated (d c b a | a b c
    d): scipy.ndimage's "reflect" mode, numpy's "symmetric"."""
    x = torch.cat([x[..., :radius].flip(-1), x, x[..., -radius:].flip(-1)], dim=-1)
    return torch.cat([x[..., :radius, :].flip(-2), x, x[..., -radius:, :].flip(-2)], dim=-2)


def _removed_mean(values: torch.Tensor, removed: torch.Tensor) -> torch.Tensor:
    """[N, 1, H, W] values, [N, 1, H, W] mask -> [N] mean over the removed pixels (float64 sums)."""
    removed = removed.to(torch.float64)
    return (values.to(torch.float64) * removed).sum(dim=(1, 2, 3)) / removed.sum(dim=(1, 2, 3))


def luminance(images: torch.Tensor) -> torch.Tensor:
    """[N, 3, H, W] RGB -> [N, 1, H, W] luma Y = 0.2989 R + 0.587 G + 0.114 B (torchvision's rgb_to_grayscale)."""
    from torchvision.transforms.v2.functional import rgb_to_grayscale

    return rgb_to_grayscale(images.float())


def removed_gradient(images: torch.Tensor, removed: torch.Tensor) -> torch.Tensor:
    """[N] mean luminance gradient inside the removed region: the mean of ``|Y(p) - Y(q)|`` over every pair of
    horizontally or vertically neighbouring pixels p, q that are both removed (so the seams between a
    reconstruction and the visible patches do not count). ``images`` [N, 3, H, W] in [0, 1], ``removed``
    [N, 1, H, W]."""
    y = luminance(images).to(torch.float64)
    removed = removed.to(torch.float64)
    across = removed[..., :, 1:] * removed[..., :, :-1]  # [N, 1, H, W-1] pairs (p, p + x) both removed
    down = removed[..., 1:, :] * removed[..., :-1, :]  # [N, 1, H-1, W]
    total = ((y[..., :, 1:] - y[..., :, :-1]).abs() * across).sum(dim=(1, 2, 3))
    total = total + ((y[..., 1:, :] - y[..., :-1, :]).abs() * down).sum(dim=(1, 2, 3))
    return total / (across.sum(dim=(1, 2, 3)) + down.sum(dim=(1, 2, 3))).clamp_min(1.0)


def detail_ratio(original: torch.Tensor, pasted: torch.Tensor, removed: torch.Tensor) -> torch.Tensor:
    """[N] ``detail``: removed-region gradient of ``pasted`` over that of ``original`` (:func:`removed_gradient`),
    each plus :data:`DETAIL_EPS`; where the original's is below :data:`DETAIL_FLOOR`, both are raised to that floor
    first. 1 = as much detail as the truth, < 1 blurrier, > 1 invented texture; never above 255."""
    truth = removed_gradient(original, removed)
    made = removed_gradient(pasted, removed)
    flat = truth < DETAIL_FLOOR
    made = torch.where(flat, made.clamp_min(DETAIL_FLOOR), made)
    return (made + DETAIL_EPS) / (truth.clamp_min(DETAIL_FLOOR) + DETAIL_EPS)


class MetricSkippedWarning(UserWarning):
    """A metric that was asked for could not be computed (lpips without its weights); the message says why and
    what to fetch."""


@dataclass(frozen=True)
class MetricPlan:
    """Which optional metrics a call computes, and with which LPIPS network."""

    names: tuple[str, ...]  # optional metrics to compute, in METRIC_NAMES order (spread: the engine's, not measure's)
    note: str | None = None  # one line when lpips was wanted (or is a default) but cannot be computed
    lpips: Lpips | None = field(default=None, repr=False, compare=False)
    lpips_requested: bool = False  # the caller named lpips (a skip is then worth a warning)

    @property
    def computed(self) -> tuple[str, ...]:
        """Every metric a record of this plan carries (the always-computed ones first)."""
        return BASE_METRICS + self.names


def default_metrics() -> tuple[str, ...]:
    """The optional metrics computed when none are named: :data:`DEFAULT_METRICS`, plus lpips when its weights are
    already on this machine (never downloaded for a default)."""
    return DEFAULT_METRICS + (("lpips",) if lpips_weights_present() else ())


def plan_metrics(
    requested: Iterable[str] | None = None, *, device: torch.device | str = "cpu", offline: bool | None = None
) -> MetricPlan:
    """The optional metrics to compute: ``requested`` (any of :data:`METRIC_NAMES`; the base ones are always
    computed), or by default :data:`DEFAULT_METRICS` plus lpips when its weights are already on this machine.
    :data:`SEED_METRICS` (spread) are only ever computed when named, by the engine over a call's seeds, never by
    :func:`measure`.

    lpips named explicitly downloads its weights unless ``offline`` (see :func:`.perceptual.load_lpips`);
    when they cannot be had, lpips is left out and :attr:`MetricPlan.note` says what to fetch and how."""
    if requested is None:
        wanted, asked = default_metrics(), False
    else:
        wanted = check_metric_names(requested)
        asked = "lpips" in wanted
    names = [n for n in SWEEP_METRICS if n in wanted]
    if "lpips" not in names:
        absent = requested is None  # a default left out for want of weights (not downloaded unless asked for)
        note = f"lpips skipped: {_missing_lpips_message('absent; only downloaded when asked for')}" if absent else None
        return MetricPlan(tuple(names), note)
    try:
        network = load_lpips(device, offline=offline) if asked else load_lpips(device, offline=True)
    except LpipsWeightsError as err:
        names.remove("lpips")
        return MetricPlan(tuple(names), f"lpips skipped: {err}", lpips_requested=asked)
    return MetricPlan(tuple(names), None, network, lpips_requested=asked)


def warn_if_skipped(plan: MetricPlan, stacklevel: int = 3) -> None:
    """Warn (:class:`MetricSkippedWarning`, the plan's one line) when lpips was asked for and is left out; a default
    that is left out stays silent in the library (the CLI and the app show :attr:`MetricPlan.note` themselves)."""
    if plan.note and plan.lpips_requested:
        warnings.warn(plan.note, MetricSkippedWarning, stacklevel=stacklevel)


@dataclass(frozen=True)
class BatchMetrics:
    """The same measurement as :class:`Metrics` for a batch of N reconstructions, as the engine computes it: one
    [N] tensor per metric (optional metrics by name); :meth:`item` is one reconstruction's :class:`Metrics`."""

    loss: torch.Tensor  # official loss over the removed patches (normalised, norm-pix aware)
    mse: torch.Tensor  # [0, 1] RGB, removed patches
    psnr: torch.Tensor  # float64 dB
    masked_patches: torch.Tensor
    optional: dict[str, torch.Tensor] = field(default_factory=dict)  # the plan's optional metrics, by name

    def item(self, k: int) -> Metrics:
        """Item ``k`` as :class:`Metrics` (optional metrics not computed stay None)."""
        extra = {name: float(values[k]) for name, values in self.optional.items()}
        return Metrics(
            loss=float(self.loss[k]),
            mse=float(self.mse[k]),
            psnr=float(self.psnr[k]),
            masked_patches=int(self.masked_patches[k]),
            **extra,
        )


def measure(
    imgs: torch.Tensor,
    image_index: torch.Tensor,
    pred: torch.Tensor,
    mask: torch.Tensor,
    plan: MetricPlan,
    *,
    config: MAEConfig,
    loss: PatchLoss,
    pixels: torch.Tensor | None = None,
) -> BatchMetrics:
    """Every metric of ``plan`` for N reconstructions. ``imgs`` [M, 3, H, W] normalised (each distinct image once),
    item ``i`` is image ``image_index[i]`` ([N] long, on ``imgs``' device) with prediction ``pred[i]`` ([N, L,
    p*p*3], normalised) under ``mask[i]`` ([N, L], 1 = removed). ``config``: the model's patch layout; ``loss``:
    its official loss (``model.forward_loss``), which knows its target space (norm-pix or not). ``pixels``: the
    prediction in the images' normalised pixel space when ``pred`` is not (a norm-pix model's, de-normalised by
    :mod:`.norm_pix`): the image metrics use it, the losses ``pred``."""
    per_item = imgs[image_index]  # [N, 3, H, W]
    mask = mask.float()
    grid = (imgs.shape[-2] // config.patch_size, imgs.shape[-1] // config.patch_size)  # (g_h, g_w) of these images
    removed_loss = loss(per_item, pred, mask)
    pixels = pred if pixels is None else pixels
    mse = masked_mean(patch_mse(pixels, patchify(per_item, config.patch_size)), mask)
    optional = {}
    if "visible_loss" in plan.names:
        optional["visible_loss"] = loss(per_item, pred, 1.0 - mask)
    if {"ssim", "lpips", "detail"} & set(plan.names):
        # the images a viewer sees: the "original" and "reconstruction + visible" panels, levels / 255
        originals = display_levels(imgs) / 255.0  # [M, 3, H, W]
        original = originals[image_index]
        removed = mask_to_pixels(mask, config.patch_size, grid)  # [N, 1, H, W]
        predicted = unpatchify(pixels.float(), config.patch_size, grid, config.in_chans)  # [N, 3, H, W] normalised
        pasted = display_levels(paste(per_item, predicted, removed)) / 255.0
        if "ssim" in plan.names:
            optional["ssim"] = ssim_removed(original, pasted, removed)
        if "lpips" in plan.names and plan.lpips is not None:
            optional["lpips"] = plan.lpips.distance(originals, pasted, image_index)
        if "detail" in plan.names:
            optional["detail"] = detail_ratio(original, pasted, removed)
    return BatchMetrics(removed_loss, mse, psnr(mse), mask.sum(dim=1), optional)
