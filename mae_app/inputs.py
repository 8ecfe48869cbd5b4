"""UI values -> engine arguments: every check turns bad input into a ``gr.Error`` message box, never a traceback.

The rules themselves live in the engine (``mae_core.modeling.masking`` for seeds and mask ratios,
``experiments.config`` for ratio grids, ``experiments.analysis`` for metric names); this module only converts the
browser's numbers and wraps their ``ValueError`` in the app's message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import gradio as gr
import numpy as np
from PIL import Image

from experiments.analysis import check_metric
from experiments.config import ratio_range
from experiments.sources import LIST_SUFFIXES
from mae_core.evaluation.norm_pix import DenormMode, check_denorm
from mae_core.evaluation.preprocess import ImageError, load_image
from mae_core.evaluation.reconstruct import NATIVE_SIZE
from mae_core.options import CUSTOM_MASK, MASK_STRATEGIES, check_seed, check_strategy, mask_ratio_value
from mae_core.options import SEED_LIMIT as TYPED_SEED_LIMIT

from . import space

# Seeds the app DRAWS stay below 2**31 so they are exact in JSON and in the browser's numbers; seeds a user TYPES
# are checked by mae_core.options.check_seed (any integer in [0, 2**63)). Two different rules, on purpose.
SEED_LIMIT = 2**31
SEED_RANGE = f"the seed must be a whole number from 0 to {TYPED_SEED_LIMIT - 1}"
MAX_SWEEP_CELLS = 2000  # images x ratios x seeds x checkpoints one UI sweep may ask for
MAX_SEEDS = 1000  # seeds one UI sweep may ask for
RATIO_RANGE = (0.05, 0.95)  # the Compare tab's mask-ratio slider, which links must fit
DRAW = "draw"  # the word the page shows for the drawn strategy (CUSTOM_MASK, "custom"); users may send either
PAINTED_ALPHA = 128  # a canvas pixel counts as painted when the brush covers it at least half (alpha 0-255)


def user_error(err: Exception) -> gr.Error:
    """An exception raised by the engine for bad input, as a message box in the browser."""
    return gr.Error(space.for_visitor(str(err)), title="Cannot do that")


def whole_seed(seed: float | None) -> int:
    """A seed from a ``gr.Number`` (a whole float or an int) as the int ``check_seed`` accepts, else ``gr.Error``
    naming the accepted range (both of its ends)."""
    try:
        value = int(seed) if seed is not None and float(seed).is_integer() else None
    except (TypeError, ValueError, OverflowError):
        value = None
    try:
        return check_seed(value)
    except ValueError:
        raise gr.Error(f"{SEED_RANGE}, got {seed!r}") from None


def seed_list(first: float, count: float) -> tuple[int, ...]:
    """``count`` consecutive seeds starting at ``first``."""
    start = whole_seed(first)
    if count is None or not float(count).is_integer() or not 1 <= count <= MAX_SEEDS:
        raise gr.Error(f"the number of seeds must be a whole number from 1 to {MAX_SEEDS}, got {count!r}")
    return tuple(whole_seed(seed) for seed in range(start, start + int(count)))


def ratio_grid(low: float, high: float, step: float) -> tuple[float, ...]:
    """Mask ratios from ``low`` to ``high`` inclusive every ``step`` (the CLI's ``low:high:step``), as gr.Error."""
    try:
        return ratio_range(mask_ratio_value(low), mask_ratio_value(high), float(step))
    except (TypeError, ValueError) as err:
        raise gr.Error(f"mask ratios {low!r} to {high!r} every {step!r}: {err}") from None


def metric_name(metric: str) -> str:
    try:
        return check_metric(metric)
    except ValueError as err:
        raise user_error(err) from None


def distinct_checkpoints(names: Sequence[str]) -> list[str]:
    """The chosen checkpoints, each once (the same one in both rows is a one-checkpoint study)."""
    if not all(names):
        raise gr.Error("Choose a checkpoint for both rows.")
    return list(dict.fromkeys(names))


def read_image(path: str | None) -> Image.Image:
    if not path:
        raise gr.Error("Upload, paste or take a picture first (or click one of the examples).")
    try:
        return load_image(path)
    except ImageError as err:
        raise gr.Error(str(err), title="Unusable image") from None


def sweep_images(image: str | None, batch: Sequence[str] | None) -> list[str]:
    """The uploaded batch, else the Compare image; uploaded lists of paths are refused."""
    images = [str(p) for p in (batch or []) if p] or ([image] if image else [])
    if not images:
        raise gr.Error("Upload images for the sweep, or put one in the Compare tab.")
    lists = [Path(p).name for p in images if Path(p).suffix.lower() in LIST_SUFFIXES]
    if lists:  # a path list would make the server read files of its own choosing
        raise gr.Error(f"Upload the images themselves, not lists of paths: {', '.join(lists)}")
    return images


def check_sweep_size(cells: int) -> None:
    if cells > MAX_SWEEP_CELLS:
        raise gr.Error(
            space.for_visitor(
                f"This sweep asks for {cells} reconstructions; the app runs at most {MAX_SWEEP_CELLS}. "
                "Use fewer ratios, seeds or images, or run `python -m experiments sweep` from a terminal."
            )
        )


def strategy_name(strategy: str | None) -> str:
    """A mask strategy's name as the engine knows it: the word ``draw`` is ``custom`` (:data:`CUSTOM_MASK`), nothing
    is ``random``; other names pass unchecked."""
    return CUSTOM_MASK if strategy == DRAW else str(strategy or "random")


def compare_strategy(strategy: str | None) -> str:
    """The Compare tab's mask strategy: a seeded one, or ``custom`` (also called ``draw``) for a drawn mask."""
    name = strategy_name(strategy)
    if name == CUSTOM_MASK:
        return name
    try:
        return check_strategy(name)
    except ValueError as err:
        raise gr.Error(f"{err}, or {DRAW!r} / {CUSTOM_MASK!r} for a drawn mask") from None


def denorm_mode(mode: str | None) -> DenormMode:
    """How a norm-pix checkpoint is de-normalised (:data:`~mae_core.evaluation.norm_pix.DENORM_MODES`); a
    ``gr.Error`` naming the value and the accepted ones otherwise."""
    try:
        return check_denorm("honest" if mode is None else mode)
    except ValueError as err:
        raise user_error(err) from None


def compare_mask(seed: float | None, strategy: str | None, removed: str | Sequence[int] | None) -> tuple[int, dict]:
    """The Compare tab's mask as ``reconstruct`` arguments: the seed, and the keyword arguments that choose the mask
    (``strategy``, plus the ``removed`` patch indices for a drawn one)."""
    seed_value = whole_seed(seed)
    strategy = compare_strategy(strategy)
    mask_args: dict = {"strategy": strategy}
    if strategy == CUSTOM_MASK:
        mask_args["removed"] = removed_patches(removed)
    return seed_value, mask_args


def compare_size(native: bool, mask_args: Mapping) -> dict:
    """The Compare's "Keep aspect" box as ``reconstruct`` keyword arguments: ``size="native"`` (the image's own
    aspect and size) when ticked, else none (the model's square). Drawn masks are drawn on the square: ticked with
    one, a one-line ``gr.Error``."""
    if not native:
        return {}
    if mask_args["strategy"] == CUSTOM_MASK:
        raise gr.Error("Drawn masks are drawn on the square input: untick 'Keep aspect' to draw one.")
    return {"size": NATIVE_SIZE}


def sweep_strategies(strategies: Sequence[str] | str | None) -> tuple[str, ...]:
    """The Sweep tab's strategies (several at once, each once), at least one; drawn masks are for Compare."""
    chosen = [strategies] if isinstance(strategies, str) else list(strategies or [])
    if not chosen:
        raise gr.Error(f"Choose at least one mask strategy ({', '.join(MASK_STRATEGIES)}).")
    try:
        return tuple(dict.fromkeys(check_strategy(s) for s in chosen))
    except ValueError as err:
        raise gr.Error(f"{err} (a sweep cannot use a drawn mask)") from None


def removed_patches(text: str | Sequence[int] | None) -> list[int]:
    """Drawn patch indices from the "removed patches" box: ``"3, 4, 17"``, ``"[3, 4, 17]"`` or whitespace between.

    At least one; whether they fit the checkpoint's grid is the engine's check (``mask_from_patches``)."""
    if text is None or isinstance(text, str):
        parts = [p for p in re.split(r"[\s,;]+", (text or "").strip().strip("[]()")) if p]
    else:
        parts = [str(p) for p in text]
    if not parts:
        raise gr.Error("Draw over the image first (or type patch indices): no patch is removed yet.")
    if not all(re.fullmatch(r"\d+", p) for p in parts):
        raise gr.Error(f"removed patches must be whole numbers >= 0 separated by commas, got {text!r}")
    return sorted({int(p) for p in parts})


def painted_pixels(painting: Mapping | None) -> np.ndarray | None:
    """[H, W] bool from an image editor's value: a pixel painted at least half-opaque on any layer.

    ``None`` when nothing is on the canvas yet (no background and no layer)."""
    if not painting:
        return None
    layers = [np.asarray(layer) for layer in painting.get("layers") or [] if layer is not None]
    background = painting.get("background")
    if not layers:
        return None if background is None else np.zeros(np.asarray(background).shape[:2], dtype=bool)
    painted = np.zeros(layers[0].shape[:2], dtype=bool)
    for layer in layers:
        if layer.ndim == 3 and layer.shape[2] == 4 and layer.shape[:2] == painted.shape:
            painted |= layer[..., 3] >= PAINTED_ALPHA
    return painted
