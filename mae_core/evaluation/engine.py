"""The batched evaluation engine: every (model, image, mask strategy, mask ratio, seed) combination, one record each.

Work is cut into batches of up to ``batch_size`` (image, strategy, ratio, seed) items per model; a batch mixes
strategies and ratios freely because it runs through the packed forward (:mod:`.packed`). Masks depend only
on (strategy, seed, number of patches): the noise for (image, strategy, seed) is ``mask_noise(seed, L,
strategy=strategy)[0]`` whatever the batch, so every model sees the same masks and results do not depend on batch
size or order (up to float rounding of the matmul blocking).

``metrics=["spread"]`` (:data:`~mae_core.options.SEED_METRICS`) measures each image over ALL the call's seeds: its
batches then hold whole seed groups (every seed of one image, strategy and ratio; at least one group per batch,
whatever ``batch_size``), and each record of a group carries the group's mean spread, computed from that batch's
predictions and masks by :mod:`.uncertainty`'s functions (no extra forward pass). Without it, batching is unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, TypedDict

import torch

from ..modeling.masking import check_mask_ratio, mask_hash, mask_noise
from ..modeling.model import MaskedAutoencoderViT
from ..options import check_batch_size, check_seed, check_strategy
from .metrics import MetricPlan, measure, plan_metrics, warn_if_skipped
from .norm_pix import denormalise
from .packed import PackedWeights, cached_pack_weights, compute_dtype, packed_forward
from .prefetch import prefetch
from .preprocess import ImageError, ImageLike, preprocess
from .uncertainty import mean_spread, spread_over_masks

if TYPE_CHECKING:  # typing.Unpack is Python 3.12+
    from typing_extensions import Unpack

Progress = Callable[[int, int], None]
DEFAULT_BATCH_SIZE = 64  # (image, ratio, seed) items per computed batch when the caller does not say


@dataclass(frozen=True)
class EvalRecord:
    """One result of ``evaluate``: a :class:`~mae_core.evaluation.metrics.Metrics`'s numbers plus what was measured
    (which model, image, ratio, seed, strategy and mask). ``experiments`` stores each as a ``LossRow``, which adds
    the run's provenance (run id, image and checkpoint hashes, loss type)."""

    model: str  # the name given in ``models``
    image: int  # index into ``images``
    mask_ratio: float
    seed: int
    masked_patches: int  # removed patches, L - int(L * (1 - mask_ratio))
    mask: str  # the masking strategy that ordered the patches ("random": the official per-seed noise)
    mask_hash: str  # masking.mask_hash of the removed-patch bitmap: equal across models iff the same mask
    loss: float  # official loss: MSE per removed patch in the (normalised, maybe norm-pix) target space
    mse: float  # MSE over the removed patches in [0, 1] RGB (prediction de-normalised and clipped)
    psnr: float  # dB, from ``mse``, capped (see mae_core.evaluation.metrics)
    # optional metrics (mae_core.evaluation.metrics; None when the call did not compute them)
    ssim: float | None = None  # SSIM over the removed pixels, original vs reconstruction + visible; 1 = identical
    lpips: float | None = None  # LPIPS AlexNet v0.1, original vs reconstruction + visible; 0 = identical
    detail: float | None = None  # removed-region luminance gradient, reconstruction / original; 1 = as detailed
    visible_loss: float | None = None  # official loss over the visible patches
    # the image's mean spread over ALL the call's seeds at this model, strategy and ratio (uncertainty.mean_spread;
    # the same on each seed's record, NaN with fewer than two seeds)
    spread: float | None = None


@dataclass(frozen=True)
class _Item:
    image: int
    mask: str
    mask_ratio: float
    seed: int


def select_device(device: torch.device | str | None = None) -> torch.device:
    """The device to run on: the one asked for (checked), else CUDA, then Apple MPS, then the CPU."""
    if device is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    accepted = "use 'cpu', 'cuda', 'cuda:N' or 'mps', or leave the device unset (auto)"
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"unknown device {device!r}; {accepted}") from None
    if chosen.type not in ("cpu", "cuda", "mps"):  # meta, xla, privateuse...: nothing this engine can compute on
        raise ValueError(f"device {device!r} cannot run this engine; {accepted}")
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device {device!r} was asked for but CUDA is not available here; "
            "use 'cpu', or leave the device unset (auto)"
        )
    if chosen.type == "cuda" and chosen.index is not None and chosen.index >= torch.cuda.device_count():
        raise ValueError(f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if chosen.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(
            f"device {device!r} was asked for but MPS is not available here; "
            "use 'cpu', or leave the device unset (auto)"
        )
    return chosen


class EvalOptions(TypedDict, total=False):
    """The keyword options of :func:`evaluate`, documented (with their defaults) at :func:`iter_evaluate`."""

    batch_size: int
    dtype: str
    device: torch.device | str | None
    crop: bool
    progress: Progress | None
    masks: Iterable[str]
    metrics: Iterable[str] | None


def evaluate(
    models: Mapping[str, MaskedAutoencoderViT],
    images: Sequence[ImageLike] | torch.Tensor,
    mask_ratios: Iterable[float],
    seeds: Iterable[int],
    **options: Unpack[EvalOptions],
) -> list[EvalRecord]:
    """All records, ordered by model (as given), image, mask strategy (as given), mask ratio, seed.
    See :func:`iter_evaluate`."""
    batches = iter_evaluate(models, images, mask_ratios, seeds, **options)
    return [record for batch in batches for record in batch]


def iter_evaluate(
    models: Mapping[str, MaskedAutoencoderViT],
    images: Sequence[ImageLike] | torch.Tensor,
    mask_ratios: Iterable[float],
    seeds: Iterable[int],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    dtype: str = "float32",
    device: torch.device | str | None = None,
    crop: bool = False,
    progress: Progress | None = None,
    masks: Iterable[str] = ("random",),
    metrics: Iterable[str] | None = None,
) -> Iterator[list[EvalRecord]]:
    """Yield one list of records per computed batch (at most ``batch_size`` records, one model per batch).

    ``images``: paths, PIL images or HxWx3 arrays (preprocessed at each model's ``img_size``, squashed or
    centre-cropped with ``crop``), or an ImageNet-normalised tensor [N, 3, H, W] at the models' size.
    ``dtype``: "float32" (exact) or "bfloat16" (matmuls in bfloat16, weights cast once per model and cached while
    it lives, the caller's model untouched). ``progress(done, total)`` is called after each batch (counts of records).
    ``masks``: strategies of :data:`~mae_core.options.MASK_STRATEGIES`; every (image, ratio, seed)
    runs once per strategy, with the noise ``mask_noise(seed, L, strategy=mask)[0]`` whatever the batch.
    ``metrics``: the optional metrics to compute (names from ``mae_core.options.METRIC_NAMES``; loss, mse and psnr are
    always computed); None computes ssim, detail and visible_loss, plus lpips when its weights are already on this
    machine (:func:`.metrics.plan_metrics`). lpips asked for but unavailable is left out (None) with a
    :class:`~.metrics.MetricSkippedWarning` saying what to fetch. ``spread`` (only when named): each image's mean
    spread over all of ``seeds`` (:func:`.uncertainty.mean_spread`), batches then holding whole seed groups.
    All arguments are validated here, when this is called, before any work starts (not at the first ``next``).
    """
    _check_models(models)
    if not isinstance(images, torch.Tensor):
        if isinstance(images, (str, bytes)) or not isinstance(images, Sequence):
            raise ValueError(
                f"images must be a sequence of images or a tensor [N, 3, H, W], got {type(images).__name__}"
            )
    if len(images) == 0:
        raise ValueError("images is empty; give at least one image")
    ratios = _check_ratios(mask_ratios, models)
    seed_list = _check_seeds(seeds)
    strategies = _check_masks(masks)
    batch = check_batch_size(batch_size)
    weights_dtype = compute_dtype(dtype)
    if progress is not None and not callable(progress):
        raise ValueError(f"progress must be a callable progress(done, total) or None, got {progress!r}")
    if isinstance(images, torch.Tensor):
        _check_tensor_images(images, models)
    target_device = select_device(device)
    plan = plan_metrics(metrics, device=target_device)
    warn_if_skipped(plan)
    items = [_Item(i, m, r, s) for i in range(len(images)) for m in strategies for r in ratios for s in seed_list]
    group = len(seed_list) if "spread" in plan.names else None  # items come in runs of the seeds: the seed groups
    return _run(models, images, items, batch, weights_dtype, target_device, crop, progress, plan, group)


def _run(
    models: Mapping[str, MaskedAutoencoderViT],
    images: Sequence[ImageLike] | torch.Tensor,
    items: list[_Item],
    batch_size: int,
    compute_dtype: torch.dtype,
    target_device: torch.device,
    crop: bool,
    progress: Progress | None,
    plan: MetricPlan,
    group: int | None = None,
) -> Iterator[list[EvalRecord]]:
    """``group``: when spread is measured, the seeds per (image, strategy, ratio): batches hold whole groups."""
    total = len(models) * len(items)
    done = 0
    step = batch_size if group is None else max(1, batch_size // group) * group
    jobs = [(name, items[start : start + step]) for name in models for start in range(0, len(items), step)]

    def load(job: tuple[str, list[_Item]]) -> torch.Tensor:
        name, chunk = job
        return _load_images(images, _distinct_images(chunk), models[name].config.img_size, crop)

    current = None
    # the next batch's images are decoded and preprocessed on a background thread while this one computes
    for (name, chunk), loaded in prefetch(jobs, load):
        model = models[name]
        if name != current:
            current, num_patches = name, model.config.num_patches
            orders = {(item.mask, item.seed) for item in items}
            noise = {(m, s): mask_noise(s, num_patches, strategy=m)[0] for m, s in orders}  # [L] each, batch-free
            with torch.inference_mode():
                weights = cached_pack_weights(model, target_device, compute_dtype)
        with torch.inference_mode():
            batch = _evaluate_chunk(
                name, model, weights, loaded.to(target_device), chunk, noise, target_device, plan, group
            )
        done += len(batch)
        if progress is not None:
            progress(done, total)
        yield batch


def _distinct_images(chunk: list[_Item]) -> list[int]:
    """The images a batch needs, each once, in index order (row k of the batch's image tensor is the k-th)."""
    return sorted({item.image for item in chunk})


def _evaluate_chunk(
    name: str,
    model: MaskedAutoencoderViT,
    weights: PackedWeights,
    imgs: torch.Tensor,
    chunk: list[_Item],
    noise: dict[tuple[str, int], torch.Tensor],
    device: torch.device,
    plan: MetricPlan,
    group: int | None = None,
) -> list[EvalRecord]:
    """``imgs`` [M, 3, H, W]: the batch's distinct images (:func:`_distinct_images`), normalised, on ``device``;
    ``group``: the seeds per seed group when spread is measured (``chunk`` is then whole groups, in order)."""
    position = {image: k for k, image in enumerate(_distinct_images(chunk))}
    image_index = [position[item.image] for item in chunk]
    out = packed_forward(
        weights,
        imgs,
        image_index,
        [item.mask_ratio for item in chunk],
        torch.stack([noise[item.mask, item.seed] for item in chunk]),
    )
    index = torch.as_tensor(image_index, device=device)
    pixels = None
    if model.config.norm_pix_loss:  # per-patch normalised predictions, measured as reconstruct shows them by default
        grid = (model.config.grid_size, model.config.grid_size)
        pixels = denormalise(out.pred, model.patchify(imgs[index]), out.mask, grid, "honest")
    measured = measure(
        imgs, index, out.pred, out.mask, plan, config=model.config, loss=model.forward_loss, pixels=pixels
    )
    spreads = None
    if group is not None:  # [G] mean spreads of the batch's G seed groups
        shown = out.pred if pixels is None else pixels  # [N, L, p*p*C], N = G * group, as measured
        grouped = shown.reshape(-1, group, *shown.shape[1:]), out.mask.reshape(-1, group, out.mask.shape[1])
        stats = spread_over_masks(*grouped, model.config.in_chans)
        spreads = mean_spread(stats.spread.cpu(), stats.coverage.cpu()).tolist()  # float64: not on every device
    return [
        EvalRecord(
            model=name,
            image=item.image,
            mask_ratio=item.mask_ratio,
            seed=item.seed,
            mask=item.mask,
            mask_hash=mask_hash(out.mask[k]),
            **asdict(measured.item(k)),
            spread=None if spreads is None else spreads[k // group],
        )
        for k, item in enumerate(chunk)
    ]


def _load_images(
    images: Sequence[ImageLike] | torch.Tensor, which: list[int], img_size: int, crop: bool
) -> torch.Tensor:
    """[len(which), 3, img_size, img_size] float32 normalised; errors name the offending index."""
    if isinstance(images, torch.Tensor):
        return images[which].float()
    tensors = []
    for i in which:
        try:
            tensors.append(preprocess(images[i], img_size, crop=crop))
        except ImageError as err:
            raise ImageError(f"images[{i}]: {err}") from err
    return torch.stack(tensors)


def _check_models(models: Mapping[str, MaskedAutoencoderViT]) -> None:
    if not isinstance(models, Mapping):
        raise ValueError(f"models must map names to MaskedAutoencoderViT models, got {type(models).__name__}")
    if not models:
        raise ValueError("models is empty; give at least one {name: model}")
    for name, model in models.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"model names must be non-empty strings, got {name!r}")
        if not isinstance(model, MaskedAutoencoderViT):
            raise ValueError(f"models[{name!r}] must be a MaskedAutoencoderViT, got {type(model).__name__}")


def _as_list(values: Iterable, what: str) -> list:
    """A non-empty list from a list/tuple/range/1-D array; a bare string or number is refused."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ValueError(f"{what} must be a non-empty sequence, got {values!r}")
    values = list(values)
    if not values:
        raise ValueError(f"{what} is empty; give at least one value")
    return values


def _check_ratios(mask_ratios: Iterable[float], models: Mapping[str, MaskedAutoencoderViT]) -> list[float]:
    ratios = _as_list(mask_ratios, "mask_ratios")
    for model in models.values():
        for ratio in ratios:
            check_mask_ratio(ratio, model.config.num_patches)  # raises ValueError naming the ratio
    return [float(r) for r in ratios]


def _check_seeds(seeds: Iterable[int]) -> list[int]:
    return [check_seed(s) for s in _as_list(seeds, "seeds")]


def _check_masks(masks: Iterable[str]) -> list[str]:
    strategies = [check_strategy(m) for m in _as_list(masks, "masks")]
    repeated = sorted({m for m in strategies if strategies.count(m) > 1})
    if repeated:
        raise ValueError(f"masks lists {', '.join(map(repr, repeated))} more than once; give each strategy once")
    return strategies


def _check_tensor_images(images: torch.Tensor, models: Mapping[str, MaskedAutoencoderViT]) -> None:
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"an image tensor must be normalised [N, 3, H, W], got shape {list(images.shape)}")
    if not images.is_floating_point():
        raise ValueError(f"an image tensor must be floating point and ImageNet-normalised, got {images.dtype}")
    for name, model in models.items():
        size = model.config.img_size
        if tuple(images.shape[2:]) != (size, size):
            raise ValueError(
                f"image tensor is {images.shape[2]}x{images.shape[3]} but model {name!r} takes {size}x{size}; "
                "pass images as paths/PIL/arrays to have them resized per model"
            )
