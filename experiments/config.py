"""What a sweep measures: ``SweepConfig`` and the command line's ratio, seed and mask-strategy syntax.

A config is the study's identity: checkpoints x images x mask strategies x mask ratios x seeds, plus how to compute
them (batch size, dtype, device, crop). It is checked by the engine's own rules
(``mae_core.options.check_seed`` and ``mask_ratio_value``, ``mae_core.evaluation.packed.compute_dtype``,
``mae_core.options.check_batch_size``) and stored in the run's
manifest. Mask ratios are kept as the store writes them (:func:`format_ratio`), so ``0.1 * 3`` and ``0.3`` are the same
cell everywhere.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Iterable, Mapping, Sized
from dataclasses import dataclass

from experiments.sources import DatasetOptions
from mae_core.options import (
    METRIC_NAMES,
    SWEEP_METRICS,
    check_batch_size,
    check_dtype_name,
    check_metric_names,
    check_seed,
    check_strategy,
    mask_ratio_value,
)

# cells per forward pass when the user does not say (the CLI's --batch-size): rows are appended once per batch, so
# a batch smaller than the engine's library default loses less work to a kill and moves the progress bar sooner
DEFAULT_BATCH_SIZE = 16
# options that manifests of earlier versions lack, in the order they were added: written only when used
LATER_OPTIONS = ("split", "image_column", "limit", "sample_seed", "metrics", "masks", "keep_images")
# a sweep's axes are bounded before anything is allocated: "0-9999999999" is a typo, not ten billion seeds
MAX_SEEDS = 10_000
MAX_RATIOS = 1_000
DEFAULT_MASKS = ("random",)  # the official masking, and what runs recorded before strategies existed measured


@dataclass(frozen=True)
class SweepConfig:
    """What to measure; serialises straight into the manifest's ``config``."""

    images: tuple[str, ...]  # files, folders, .txt lists (see experiments.images)
    # anything mae_core.checkpoints.loading.load_model accepts, or keys of run_sweep(models=...)
    checkpoints: tuple[str, ...]
    ratios: tuple[float, ...] = (0.75,)
    seeds: tuple[int, ...] = (0,)
    batch_size: int = DEFAULT_BATCH_SIZE
    dtype: str = "float32"
    device: str | None = None  # None: the engine's choice (CUDA when available)
    crop: bool = False  # centre crop instead of squashing to the model's size
    # which rows of the dataset arguments among ``images`` (see experiments.datasets); None: the defaults
    split: str | None = None
    image_column: str | None = None
    limit: int | None = None
    sample_seed: int | None = None
    # optional metrics asked for (mae_core.evaluation.metrics; loss, mse, psnr are always computed; spread, over the
    # seeds, only when asked for); None: the default set (ssim, detail, visible_loss, plus lpips when its weights are
    # on the machine)
    metrics: tuple[str, ...] | None = None
    # mask strategies (mae_core.modeling.mask_strategies): every cell runs per strategy
    masks: tuple[str, ...] = DEFAULT_MASKS
    keep_images: bool = False  # copy each image file into the run (experiments.run_images): replayable after it is gone

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise once, here
        set_(self, "images", tuple(str(i) for i in _as_tuple(self.images)))
        set_(self, "checkpoints", tuple(dict.fromkeys(str(c) for c in _as_tuple(self.checkpoints))))
        set_(self, "ratios", tuple(dict.fromkeys(_cell_ratio(r) for r in _bounded(self.ratios, MAX_RATIOS, "ratios"))))
        set_(self, "seeds", tuple(dict.fromkeys(check_seed(s) for s in _bounded(self.seeds, MAX_SEEDS, "seeds"))))
        set_(self, "masks", tuple(dict.fromkeys(check_strategy(m) for m in _as_tuple(self.masks))))
        set_(self, "batch_size", check_batch_size(self.batch_size))
        check_dtype_name(self.dtype)  # ValueError naming the accepted dtypes
        if self.metrics is not None:
            set_(self, "metrics", check_metric_names(_as_tuple(self.metrics)))
        if not self.images:
            raise ValueError("no images given: pass files, folders or a .txt list of paths")
        if not self.checkpoints:
            raise ValueError("no checkpoints given: pass registry names, local files or hf:// ids")
        if not self.ratios:
            raise ValueError("no mask ratios given, e.g. 0.1:0.9:0.1 or 0.5,0.75")
        if not self.seeds:
            raise ValueError("no seeds given, e.g. 0-4 or 0,1,2")
        if not self.masks:
            raise ValueError("no mask strategies given, e.g. random or random,block,grid")
        DatasetOptions(self.split, self.image_column, self.limit, self.sample_seed)  # ValueError when one is bad

    @property
    def dataset_options(self) -> DatasetOptions:
        return DatasetOptions(self.split, self.image_column, self.limit, self.sample_seed)

    @property
    def cells_per_image(self) -> int:
        return len(self.checkpoints) * len(self.masks) * len(self.ratios) * len(self.seeds)

    def to_dict(self) -> dict[str, object]:
        """The config as the manifest stores it; options added by later versions (the dataset options, the metrics,
        the mask strategies, keeping image copies) only when they differ from their default, so a manifest written
        before they existed is written back as it was (``metrics`` None: the default set)."""
        data = dataclasses.asdict(self)
        return {k: v for k, v in data.items() if k not in LATER_OPTIONS or v != _DEFAULTS[k]}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> SweepConfig:
        """A config from its ``to_dict`` (a manifest's ``config``); keys this version does not know are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


_DEFAULTS = {f.name: f.default for f in dataclasses.fields(SweepConfig)}


def _as_tuple(value: object) -> tuple:
    if isinstance(value, (str, bytes, os.PathLike)) or not isinstance(value, Iterable):
        return (value,)
    return tuple(value)


def _bounded(value: object, limit: int, what: str) -> tuple:
    """``value`` as a tuple, refused before it is built when it holds more than ``limit`` entries."""
    if isinstance(value, Sized) and not isinstance(value, (str, bytes)) and len(value) > limit:
        raise ValueError(f"{len(value):,} {what}: a sweep takes at most {limit:,}")
    values = _as_tuple(value)
    if len(values) > limit:
        raise ValueError(f"{len(values):,} {what}: a sweep takes at most {limit:,}")
    return values


def _cell_ratio(value: object) -> float:
    """A user's mask ratio (checked by ``mask_ratio_value``) as the store writes it: 0.1 * 3 is the cell 0.3."""
    return float(format_ratio(mask_ratio_value(value)))


def parse_ratios(text: str) -> tuple[float, ...]:
    """``"0.1:0.9:0.1"`` (start:stop:step, stop included) or ``"0.5,0.75"`` -> mask ratios."""
    text = str(text).strip()
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3:
            raise ValueError(f"mask ratios {text!r}: expected start:stop:step such as 0.1:0.9:0.1, or a comma list")
        try:
            start, stop, step = (float(p) for p in parts)
        except ValueError:
            raise ValueError(f"mask ratios {text!r}: start, stop and step must be numbers") from None
        return ratio_range(start, stop, step)
    return tuple(_cell_ratio(p) for p in _split(text, "mask ratios"))


def ratio_range(start: float, stop: float, step: float) -> tuple[float, ...]:
    """Mask ratios from ``start`` to ``stop`` inclusive every ``step``; ``0.1 * 3`` comes out as 0.3."""
    if not step > 0 or stop < start:
        raise ValueError(f"mask ratios {start:g}:{stop:g}:{step:g}: need step > 0 and stop >= start")
    count = int(math.floor((stop - start) / step + 1e-9)) + 1
    if count > MAX_RATIOS:
        raise ValueError(
            f"mask ratios {start:g}:{stop:g}:{step:g}: {count:,} ratios; a sweep takes at most {MAX_RATIOS:,}"
        )
    return tuple(_cell_ratio(round(start + i * step, 10)) for i in range(count))


def parse_seeds(text: str) -> tuple[int, ...]:
    """``"0-4"`` (inclusive), ``"0,3,7"`` or a mix such as ``"0-2,10"`` -> seeds."""
    seeds: list[int] = []
    for part in _split(str(text), "seeds"):
        if "-" in part.lstrip("-"):
            low, _, high = part.partition("-")
            try:
                a, b = int(low), int(high)
            except ValueError:
                raise ValueError(f"seeds {text!r}: {part!r} is not a range like 0-4") from None
            if b < a:
                raise ValueError(f"seeds {text!r}: range {part!r} ends before it starts")
            check_seed(a), check_seed(b)  # ValueError naming the accepted range [0, 2**63)
            if len(seeds) + (b - a + 1) > MAX_SEEDS:
                raise ValueError(
                    f"seeds {text!r}: {len(seeds) + b - a + 1:,} seeds; a sweep takes at most {MAX_SEEDS:,}"
                )
            seeds.extend(range(a, b + 1))
        else:
            try:
                seeds.append(int(part))
            except ValueError:
                raise ValueError(f"seeds {text!r}: {part!r} is not an integer seed") from None
    return tuple(check_seed(s) for s in seeds)


def parse_metrics(text: str) -> tuple[str, ...]:
    """``"ssim,lpips"`` -> those metrics; ``"all"`` every optional one (spread too), ``"none"`` none of them (loss,
    mse and psnr are always computed). ``ValueError`` naming the bad entry and every accepted word."""
    word = str(text).strip().lower()
    if word == "all":
        return SWEEP_METRICS
    if word == "none":
        return ()
    parts = [part.strip() for part in str(text).split(",")]
    bad = next((part for part in parts if part not in METRIC_NAMES), None)
    if bad is not None:
        what = f"unknown metric {bad!r}" if bad else "an empty entry"
        accepted = f"a comma list of {', '.join(METRIC_NAMES)}, or all, or none"
        raise ValueError(f"metrics {text!r}: {what}; accepted: {accepted}")
    return check_metric_names(parts)


def parse_masks(text: str) -> tuple[str, ...]:
    """``"random,block,grid"`` -> mask strategies, each once, in the order given."""
    return tuple(dict.fromkeys(check_strategy(part) for part in _split(str(text), "mask strategies")))


def _split(text: str, what: str) -> list[str]:
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or any(not p for p in parts):
        raise ValueError(f"{what} {text!r}: expected a comma-separated list without empty entries")
    return parts


def format_ratio(mask_ratio: float) -> str:
    """Mask ratios are written with 6 significant digits: ``0.1 * 3`` and ``0.3`` are the same cell."""
    return f"{float(mask_ratio):.6g}"
