"""What a user may ask of the engine, named and checked without torch: seeds, mask ratios, mask strategies, batch
sizes, compute dtypes and metrics (with what each metric means).

The modules that compute with these (``masking``, ``mask_strategies``, ``engine``, ``packed``, ``metrics``) import
them from here, so that a command line or a run store that only checks arguments or reads results never pays for
importing torch.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass

# the strategies a seed fully determines (mae_core.modeling.mask_strategies)
MASK_STRATEGIES = ("random", "block", "grid")
CUSTOM_MASK = "custom"  # the name of a drawn mask (mae_core.modeling.masking.mask_from_patches): patches, not a seed
COMPUTE_DTYPE_NAMES = ("float32", "bfloat16")  # mae_core.evaluation.packed.COMPUTE_DTYPES maps them to torch dtypes
BASE_METRICS = ("loss", "mse", "psnr")  # always computed (they cost nothing beside the forward pass)
OPTIONAL_METRICS = ("ssim", "lpips", "detail", "visible_loss")  # of one reconstruction, chosen per call (``metrics=``)
# of one image over ALL the seeds of a call (its K masks, same checkpoint, strategy and ratio): never a default, and
# nothing that measures one reconstruction (reconstruct, the app's Compare table) computes it
SEED_METRICS = ("spread",)
RECONSTRUCTION_METRICS = BASE_METRICS + OPTIONAL_METRICS  # what one reconstruction can carry (the Compare table)
SWEEP_METRICS = OPTIONAL_METRICS + SEED_METRICS  # what ``metrics=`` and a sweep's ``--metrics`` may choose ("all")
METRIC_NAMES = BASE_METRICS + SWEEP_METRICS  # per-image metrics, in the order tables and CSV columns show them
DEFAULT_METRICS = ("ssim", "detail", "visible_loss")  # plus lpips when its weights are on this machine


def mask_ratio_value(mask_ratio: object) -> float:
    """A user's mask ratio as a float strictly inside (0, 1); ``ValueError`` naming the value otherwise."""
    try:
        ratio = float(mask_ratio)
    except (TypeError, ValueError):
        raise ValueError(f"mask_ratio must be a number in (0, 1), got {mask_ratio!r}") from None
    if not math.isfinite(ratio) or not 0.0 < ratio < 1.0:
        raise ValueError(f"mask_ratio must lie strictly between 0 and 1, got {mask_ratio!r}")
    return ratio


SEED_LIMIT = 2**63  # seeds lie in [0, SEED_LIMIT): what ``torch.Generator.manual_seed`` takes


def check_seed(seed: object) -> int:
    """A user's seed as an int in [0, 2**63) (what ``torch.Generator.manual_seed`` takes); ``ValueError`` otherwise."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"seed must be an integer, got {seed!r} ({type(seed).__name__})")
    if not 0 <= seed < SEED_LIMIT:
        raise ValueError(f"seed must lie in [0, 2**63), got {seed}")
    return int(seed)


def check_strategy(strategy: object) -> str:
    """A strategy name from :data:`MASK_STRATEGIES`; ``ValueError`` naming the value and the accepted ones otherwise."""
    if strategy == CUSTOM_MASK:
        raise ValueError("a custom mask is drawn, not seeded: build its noise with mask_from_patches(removed, L)")
    if not isinstance(strategy, str) or strategy not in MASK_STRATEGIES:
        raise ValueError(f"unknown mask strategy {strategy!r}; accepted: {', '.join(MASK_STRATEGIES)}")
    return strategy


def check_batch_size(batch_size: object) -> int:
    """A user's batch size as a positive int; ``ValueError`` naming the value otherwise."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(f"batch size must be a positive integer, got {batch_size!r}")
    return int(batch_size)


def check_dtype_name(name: object) -> str:
    """A compute dtype's name (``"float32"`` exact, ``"bfloat16"`` fast); ``ValueError`` naming the value and the
    accepted names otherwise."""
    if not isinstance(name, str) or name not in COMPUTE_DTYPE_NAMES:
        raise ValueError(f"unknown dtype {name!r}; accepted: {', '.join(repr(d) for d in COMPUTE_DTYPE_NAMES)}")
    return name


@dataclass(frozen=True)
class MetricInfo:
    """How to read a metric: what it measures and which direction is better (one line each, for tables)."""

    name: str
    label: str  # axis/column label
    better: str  # "lower", "higher" or "closer to 1"
    explanation: str


METRIC_INFO: dict[str, MetricInfo] = {
    info.name: info
    for info in (
        MetricInfo("loss", "loss (normalised pixels, removed patches)", "lower", "the model's own training objective"),
        MetricInfo(
            "mse", "MSE ([0, 1] RGB, removed patches)", "lower", "squared pixel error: what a pixel loss rewards"
        ),
        MetricInfo("psnr", "PSNR (dB, removed patches)", "higher", "the MSE on a logarithmic scale"),
        MetricInfo(
            "ssim", "SSIM (removed pixels)", "higher", "local structure (means, contrasts, correlation); 1 = identical"
        ),
        MetricInfo("lpips", "LPIPS (AlexNet, whole image)", "lower", "perceived difference of deep features; 0 = same"),
        MetricInfo(
            "detail",
            "detail (gradient ratio, removed pixels)",
            "closer to 1",
            "texture: 1 = as much as the truth, below 1 blurrier, above 1 invented",
        ),
        MetricInfo(
            "visible_loss", "loss on visible patches", "lower", "the official loss on the patches the model could see"
        ),
        MetricInfo(
            "spread",
            "spread over masks ([0, 1] RGB std, removed pixels)",
            "lower",
            "how much the reconstruction of a pixel changes from mask to mask (over a sweep's seeds): certainty, not "
            "accuracy",
        ),
    )
}


def check_metric_names(names: Iterable[str]) -> tuple[str, ...]:
    """``names`` as a tuple in :data:`METRIC_NAMES` order; ``ValueError`` naming any unknown one."""
    if isinstance(names, (str, bytes)) or not isinstance(names, Iterable):
        raise ValueError(f"metrics must be a list of metric names, got {names!r}; accepted: {', '.join(METRIC_NAMES)}")
    names = list(names)
    unknown = [n for n in names if n not in METRIC_NAMES]
    if unknown:
        raise ValueError(f"unknown metric {unknown[0]!r}; accepted: {', '.join(METRIC_NAMES)}")
    return tuple(n for n in METRIC_NAMES if n in names)
