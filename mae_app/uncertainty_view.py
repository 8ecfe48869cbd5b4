"""The Compare tab's uncertainty section: where each checkpoint is unsure over many masks, and where the two differ
patch by patch under the Compare's mask.

- **Spread maps** (``/uncertainty``): each checkpoint reconstructs the image under K masks of the Compare's strategy
  at its ratio, seeds ``seed .. seed+K-1`` (``mae_core.evaluation.uncertainty.mask_uncertainty``); per pixel, the
  standard deviation of the reconstruction over the masks that removed it. Both maps share one colour scale.
- **Difference map** (``/difference``): ``b - a`` per removed patch of a metric (mse or lpips) on the same masks
  (``mae_core.evaluation.patch_difference.patch_difference`` over those K seeds): the map of the Compare's own mask
  (the first seed), with how often b is better on it and over all K masks. Under a drawn mask, the map of that one
  mask.

Both are computed from the same K reconstructions per checkpoint (one packed forward each,
``mae_core.evaluation.seed_batch.run_seeds``, kept): opening the section runs each model once, not once per part.

The spread needs seeded masks: under a drawn mask it is refused in its note (one mask has nothing to vary). Like the
attention section, the accordion computes only while open, and the last few results are kept,
so switching the metric or reopening the section does not run the models again.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

import gradio as gr

from mae_core.evaluation.heatmap import DIVERGING_COLORMAP, shared_vmax, symmetric_limit
from mae_core.evaluation.patch_difference import PATCH_METRICS, PatchDifference, batch_difference, check_same_grid
from mae_core.evaluation.perceptual import LpipsWeightsError
from mae_core.evaluation.seed_batch import DEFAULT_MASKS, SeedBatch, run_seeds
from mae_core.evaluation.uncertainty import MaskUncertainty, uncertainty_of
from mae_core.files import file_sha256
from mae_core.modeling.model import MaskedAutoencoderViT
from mae_core.options import CUSTOM_MASK

from . import inputs, space
from .components import FOLLOW_LATEST, result_panel
from .panels import heatmap_with_scale, served_png
from .user_errors import as_note

SPREAD_COLORMAP = "viridis"  # sequential: dark = sure, bright = unsure
MASK_RANGE = (2, 64)  # K: one mask has no spread; 64 masks of ViT-L are one packed forward of ~10 s on a CPU
MIN_COVERAGE = 2  # a pixel removed by fewer masks has no spread to measure (as MaskUncertainty.mean_spread counts)
CACHE_SIZE = 8  # spread results (one per checkpoint and mask set) and difference results (one per pair) kept
DIFFERENCE_LEGEND = "blue: bottom row (b) better; red: top row (a) better; white: equal; grey: visible patches"
SQUARE_NOTE = "Computed on the model's square input: 'Keep aspect' applies to the panels above only."

Result = TypeVar("Result")


class RecentResults:
    """The last :data:`CACHE_SIZE` results by key, shared by the page's users (thread-safe)."""

    def __init__(self) -> None:
        self._results: OrderedDict[Hashable, object] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], Result]) -> Result:
        """The result kept under ``key``, else ``compute()`` (outside the lock: other keys stay served) kept."""
        with self._lock:
            if key in self._results:
                self._results.move_to_end(key)
                return self._results[key]
        result = compute()
        with self._lock:
            self._results[key] = result
            while len(self._results) > CACHE_SIZE:
                self._results.popitem(last=False)
        return result

    def __len__(self) -> int:
        with self._lock:
            return len(self._results)


def mask_seeds(seed: float | None, masks: float | str | None) -> tuple[int, ...]:
    """The K seeds ``seed .. seed+K-1`` for ``masks`` = K, as ``gr.Error`` naming what is accepted."""
    low, high = MASK_RANGE
    try:
        count = float(masks)
    except (TypeError, ValueError):
        count = math.nan
    if not (count.is_integer() and low <= count <= high):
        raise gr.Error(f"the number of masks must be a whole number from {low} to {high}, got {masks!r}")
    return inputs.seed_list(seed, int(count))


def seeded_strategy(strategy: str | None, what: str) -> str:
    """The Compare's strategy when it is a seeded one; a drawn mask refused in one line (``what`` needs seeds)."""
    name = inputs.compare_strategy(strategy)
    if name == CUSTOM_MASK:
        raise gr.Error(f"{what} needs seeded masks: choose random, block or grid (a drawn mask has no seeds).")
    return name


def seed_span(seeds: tuple[int, ...]) -> str:
    return f"seeds {seeds[0]}-{seeds[-1]}" if len(seeds) > 1 else f"seed {seeds[0]}"


@dataclass(frozen=True)
class UncertaintyTab:
    """The uncertainty section of the Compare tab."""

    section: gr.Accordion
    shown: gr.State  # whether the accordion is open (compute only then)
    masks: gr.Number  # K
    metric: gr.Radio  # the difference map's per-patch metric
    spreads: tuple[gr.Image, gr.Image]  # top row, bottom row
    spread_note: gr.Markdown
    difference: gr.Image
    difference_note: gr.Markdown
    api_run: gr.Button  # never shown: the trigger of /uncertainty and /difference, which raise their errors

    @property
    def spread_outputs(self) -> list:
        return [*self.spreads, self.spread_note]

    @property
    def difference_outputs(self) -> list:
        return [self.difference, self.difference_note]


def build() -> UncertaintyTab:
    """Lay the section out (inside the Compare tab, below the panels)."""
    with gr.Accordion(
        "Where each checkpoint is unsure, and where they differ", open=False, elem_id="uncertainty"
    ) as section:
        gr.Markdown(
            "**Spread**: each checkpoint rebuilds the image under K masks of the Compare's strategy and ratio (seeds: "
            "the Compare's seed and the next K-1); a pixel's spread is how much its reconstruction changes across "
            "the masks that removed it (bright = unsure). **Difference**: bottom row minus top row (b - a) per "
            f"removed patch under the Compare's mask; {DIFFERENCE_LEGEND}."
        )
        with gr.Row():
            masks = gr.Number(
                DEFAULT_MASKS,  # no precision: gradio would round 2.5 before the handler could refuse it
                label=f"Masks K for the spread ({MASK_RANGE[0]}-{MASK_RANGE[1]}; press Enter)",
                elem_id="uncertainty-masks",
            )
            metric = gr.Radio(
                list(PATCH_METRICS), value="mse", label="Difference: per-patch metric", elem_id="difference-metric"
            )
        with gr.Row(equal_height=True):
            spreads = (
                result_panel("top row: spread over masks", "spread-top"),
                result_panel("bottom row: spread over masks", "spread-bottom"),
            )
            difference = result_panel("difference b - a (bottom minus top)", "difference-map")
        spread_note = gr.Markdown(label="spread note", elem_id="spread-note")
        difference_note = gr.Markdown(label="difference note", elem_id="difference-note")
        api_run = gr.Button("Compute", visible=False)
    return UncertaintyTab(
        section, gr.State(False), masks, metric, spreads, spread_note, difference, difference_note, api_run
    )


class UncertaintyView:
    """The section's handlers over the app's checkpoints (``model(name)``, the app's cache)."""

    def __init__(self, model: Callable[[str], MaskedAutoencoderViT]) -> None:
        self.model = model
        self.batches = RecentResults()  # SeedBatch by (image, checkpoint, ratio, strategy, seeds, drawn, crop)
        self.spreads = RecentResults()  # MaskUncertainty by (image, checkpoint, ratio, strategy, seeds, crop)
        self.differences = RecentResults()  # PatchDifference by (image, pair, ratio, strategy, seeds, crop, metric)

    def batch(
        self, image: str, name: str, mask_ratio: float, strategy: str, seeds: tuple[int, ...], crop: bool, drawn=None
    ) -> SeedBatch:
        """``name``'s K reconstructions of ``image`` under the masks of ``seeds`` (or the drawn patches), kept: the
        spread and the difference of the same masks share them."""
        model = self.model(name)
        mask = (float(mask_ratio), strategy, seeds, None if drawn is None else tuple(drawn), bool(crop))
        key = (file_sha256(image), name, id(model), *mask)

        def compute() -> SeedBatch:  # the image is read only when the batch is not kept
            picture = inputs.read_image(image)
            run = partial(run_seeds, strategy=strategy, crop=bool(crop), removed=drawn)
            return _computed(run, model, picture, float(mask_ratio), seeds)

        return self.batches.get(key, compute)

    def uncertainty(
        self,
        image: str | None,
        first: str,
        second: str,
        mask_ratio: float,
        seed: float,
        crop: bool = False,
        strategy: str = "random",
        masks: float = DEFAULT_MASKS,
    ) -> tuple[str, str, str]:
        """Where each checkpoint is unsure: the spread of its reconstruction over K = ``masks`` masks (2-64) of
        ``strategy`` at ``mask_ratio``, seeds ``seed .. seed+K-1``; the first seven arguments are ``/compare``'s.

        Returns the spread map of ``first`` and of ``second`` (2 PNG file paths: the map beside its numbered colour
        bar, one scale for both) and a note with each checkpoint's mean spread."""
        strategy = seeded_strategy(strategy, "The spread over masks")
        seeds = mask_seeds(seed, masks)
        inputs.read_image(image)  # a missing or unreadable image: one line, before any model runs
        results = []
        for name in (first, second):
            model = self.model(name)
            key = (file_sha256(image), name, id(model), float(mask_ratio), strategy, seeds, bool(crop))

            def compute(name=name, model=model) -> MaskUncertainty:
                batch = self.batch(image, name, mask_ratio, strategy, seeds, crop)
                return uncertainty_of(model, batch, seeds, strategy)

            results.append(self.spreads.get(key, compute))
        covered = [r.coverage >= MIN_COVERAGE for r in results]
        vmax = shared_vmax([r.spread for r in results], covered)
        files = [
            served_png(heatmap_with_scale(r.spread, c, r.spread.shape, vmax, colormap=SPREAD_COLORMAP), "spread")
            for r, c in zip(results, covered)
        ]
        return (*files, spread_note((first, second), results, vmax))

    def difference(
        self,
        image: str | None,
        first: str,
        second: str,
        mask_ratio: float,
        seed: float,
        crop: bool = False,
        strategy: str = "random",
        removed: str | None = "",
        metric: str = "mse",
        masks: float = DEFAULT_MASKS,
    ) -> tuple[str, str]:
        """Where the two differ: ``second - first`` per removed patch of ``metric`` (``mse`` or ``lpips``, lower is
        better for both) under the Compare's mask (the first eight arguments are ``/compare``'s), and how often
        ``second`` is better on it and over the K = ``masks`` masks of seeds ``seed .. seed+K-1`` (those of
        ``/uncertainty``). Under a drawn mask (``strategy`` draw/custom with ``removed``), the map and the share of
        that one mask (``masks`` is then unused).

        Returns the difference map (a PNG file path: blue = second better, red = first better, grey = visible, with
        its numbered colour bar from -limit to +limit) and a note."""
        _, mask_args = inputs.compare_mask(seed, strategy, removed)
        strategy, drawn = mask_args["strategy"], mask_args.get("removed")
        seeds = (0,) if drawn is not None else mask_seeds(seed, masks)
        if metric not in PATCH_METRICS:
            raise gr.Error(f"the difference metric must be one of {', '.join(PATCH_METRICS)}, got {metric!r}")
        inputs.read_image(image)  # a missing or unreadable image: one line, before any model runs
        model_a, model_b = self.model(first), self.model(second)
        config = _computed(check_same_grid, model_a.config, model_b.config)
        mask = (float(mask_ratio), strategy, seeds, None if drawn is None else tuple(drawn))
        key = (file_sha256(image), first, id(model_a), second, id(model_b), *mask)

        def compute() -> PatchDifference:
            runs = [self.batch(image, name, mask_ratio, strategy, seeds, crop, drawn) for name in (first, second)]
            shown = () if drawn is not None else seeds
            return _computed(batch_difference, *runs, config, metric=metric, seeds=shown, strategy=strategy)

        result = self.differences.get((*key, bool(crop), metric), compute)
        diff, mask = result.diff[0], result.masks[0]  # the first seed is the Compare's own mask
        limit = symmetric_limit([diff], [mask])
        side = model_a.config.img_size
        picture_map = heatmap_with_scale(diff, mask, (side, side), limit, vmin=-limit, colormap=DIVERGING_COLORMAP)
        return served_png(picture_map, "difference"), difference_note((first, second), result, limit)

    def when_shown(
        self,
        shown: bool,
        native: bool,
        image: str | None,
        first: str,
        second: str,
        mask_ratio: float,
        seed: float,
        crop: bool,
        strategy: str,
        removed: str | None,
        masks: float,
        metric: str,
    ) -> tuple:
        """Both parts while the section is open (nothing changes while it is closed); a user error goes into its
        part's note, the other part still shows. ``native`` ("Keep aspect"): the section stays on the square input
        and says so."""
        if not shown:
            return (gr.skip(),) * 5
        compare = (image, first, second, mask_ratio, seed, crop, strategy)
        spread = _or_note(lambda: self.uncertainty(*compare, masks), 3)
        difference = _or_note(lambda: self.difference(*compare, removed, metric, masks), 2)
        if native:  # said under what was computed (a refusal stays one line)
            spread, difference = (
                (*part[:-1], f"{part[-1]}\n\n_{SQUARE_NOTE}_") if part[0] is not None else part
                for part in (spread, difference)
            )
        return (*spread, *difference)


def _computed(compute: Callable[..., Result], *args, **kwargs) -> Result:
    """``compute(*args, **kwargs)`` with the engine's refusals (a ratio out of range, two patch grids, LPIPS without
    its weights) as one-line ``gr.Error`` messages."""
    try:
        return compute(*args, **kwargs)
    except ValueError as err:
        raise inputs.user_error(err) from None
    except LpipsWeightsError as err:  # its message is the one line to show: what to fetch, and how
        raise gr.Error(space.for_visitor(str(err))) from None


def _or_note(part: Callable[[], tuple], size: int) -> tuple:
    """A part's outputs, or (on a user error) empty pictures and the error as its note."""
    try:
        return part()
    except gr.Error as err:
        return (*(None,) * (size - 1), as_note(err))


def _number(value: float) -> str:
    return f"{value:.4g}" if math.isfinite(value) else "none (no pixel was removed by two masks)"


def spread_note(names: tuple[str, str], results: list[MaskUncertainty], vmax: float) -> str:
    """The masks used, each row's mean spread, what spread means and the shared scale."""
    first = results[0]
    k = first.num_masks
    lines = [
        f"Spread over K = {k} masks ({first.strategy}, ratio {first.mask_ratio:g}, {seed_span(first.seeds)}: the "
        f"Compare's seed and the next {k - 1}). Per pixel: the standard deviation of the reconstruction over the "
        "masks that removed it, in [0, 1] RGB (root-mean-square over the channels); high = the checkpoint is unsure "
        "there.",
        *_repeated_masks(first),
        *(
            f"- **{row}** ({name}): mean spread {_number(r.mean_spread)}"
            for row, name, r in zip(("top", "bottom"), names, results)
        ),
        "",
        f"Colours ({SPREAD_COLORMAP}): 0 (dark) to {vmax:.3g} (bright), the larger maximum of the two rows; grey: "
        f"pixels removed by fewer than {MIN_COVERAGE} of the {k} masks (no spread to measure), left out of the mean.",
    ]
    return "\n".join(lines)


def _repeated_masks(result: MaskUncertainty) -> list[str]:
    """A line when some of the K seeds drew the same mask (a grid strategy has only a few): each counts as drawn."""
    distinct = len({mask.tobytes() for mask in result.masks})
    if distinct == result.num_masks:
        return []
    return [
        f"Only {distinct} of the {result.num_masks} masks are distinct ({result.strategy} masks at this ratio take "
        "few forms on this patch grid): each distinct mask weighs as many seeds as drew it."
    ]


def difference_note(names: tuple[str, str], result: PatchDifference, limit: float) -> str:
    """Which way the difference runs, how often b is better on this mask and over all K (a drawn mask is one
    mask), and the colours."""
    a, b = names
    removed = int(result.masks[0].sum())
    if result.seeds:
        which = f"{result.strategy}, ratio {result.mask_ratio:g}, seed {result.seeds[0]}"
        over = [
            f"- over the same {len(result.seeds)} masks as the spread ({seed_span(result.seeds)}): b better on "
            f"{result.fraction_b_better:.1%} of the removed patches"
        ]
    else:
        which = f"drawn, {removed} patches, ratio {result.mask_ratio:.4g}"
        over = ["- a drawn mask is one mask: no share over K masks"]
    return "\n".join(
        [
            f"b - a of per-patch `{result.metric}` (lower is better) under the Compare's mask ({which}); "
            f"a = top row ({a}), b = bottom row ({b}).",
            f"- this mask: b better on {result.b_better[0]:.1%} of its {removed} removed patches",
            *over,
            "",
            f"Colours: {DIFFERENCE_LEGEND}; from -{limit:.3g} to +{limit:.3g}, the largest |b - a| on this mask.",
        ]
    )


def wire(
    tab: UncertaintyTab, view: UncertaintyView, square_inputs: list, keep_aspect, results: gr.components.Component, gpu
) -> None:
    """The named ``/uncertainty`` and ``/difference`` endpoints (errors raised to the caller) on a hidden trigger;
    the page computes both on opening the section, on Enter in K, on a metric change and when the Compare shows new
    results (``results`` changes) while it is open. ``square_inputs``: the Compare's image, checkpoints, ratio,
    seed, crop, strategy and drawn patches, in that order."""
    compare = square_inputs[:-1]  # /compare's first seven: without the drawn patches
    tab.api_run.click(gpu(view.uncertainty), [*compare, tab.masks], tab.spread_outputs, api_name="uncertainty")
    tab.api_run.click(
        gpu(view.difference), [*square_inputs, tab.metric, tab.masks], tab.difference_outputs, api_name="difference"
    )
    shown_args = [tab.shown, keep_aspect, *square_inputs, tab.masks, tab.metric]
    outputs = [*tab.spread_outputs, *tab.difference_outputs]
    page = {"fn": gpu(view.when_shown), "inputs": shown_args, "outputs": outputs, "api_visibility": "private"}
    latest = {**page, **FOLLOW_LATEST}
    tab.section.expand(lambda: True, outputs=[tab.shown], api_visibility="private").then(**page)
    tab.section.collapse(lambda: False, outputs=[tab.shown], api_visibility="private")
    results.change(**page)
    tab.masks.submit(**latest)
    tab.metric.input(**latest)
