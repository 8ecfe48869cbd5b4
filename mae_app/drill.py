"""The Runs tab's drill-down: which images drive a gap, one image at every ratio of its run (with the per-patch
difference ``b - a`` of two checkpoints), its breakdown ratio, one row replayed.

Handlers only: the ranking is :func:`experiments.analysis.image_gaps`, the re-rendering
:func:`experiments.replay.replay` (the run's image found again and checked, the numbers computed the way the sweep
computed them), the difference maps :func:`mae_core.evaluation.patch_difference.difference_of` of the replayed
cells' ``patch_error``, the breakdown :mod:`mae_app.breakdown_view`; this module turns them into the page's tables,
gallery and panels.
"""

from __future__ import annotations

import dataclasses
import html
import os
from collections.abc import Callable, Sequence

import gradio as gr
import pandas as pd

from experiments.analysis import image_gaps, pair_checkpoints
from experiments.replay import DEFAULT_MASK, ReplayCell, RunReplay, measured_masks, replay
from experiments.store import format_ratio, load_runs
from mae_core.evaluation.heatmap import DIVERGING_COLORMAP, symmetric_limit
from mae_core.evaluation.patch_difference import PatchDifference, difference_of
from mae_core.modeling.model import MaskedAutoencoderViT
from mae_core.options import METRIC_NAMES

from . import formatting, inputs, links, space
from .breakdown_view import DEFAULT_THRESHOLD, breakdown_of
from .panels import heatmap_scale, heatmap_with_scale, panel_files, served_png
from .user_errors import log_refusal, message

CELL_PANELS = 5  # per checkpoint: original, masked, reconstruction, reconstruction + visible, error heatmap
DIFFERENCE_LEGEND = "blue: b better (lower squared error), red: a better, white: equal, grey: visible patches"


class RunDrill:
    """Drill-down handlers over the app's checkpoints (``model(name)``, a ``gr.Error`` when it cannot be loaded) and
    run store."""

    def __init__(
        self,
        model: Callable[[str], MaskedAutoencoderViT],
        run_root: str | os.PathLike | None,
        check_runs: Callable[[Sequence[str], gr.Request | None], None] = lambda run_ids, request: None,
    ) -> None:
        self.model = model
        self.run_root = run_root
        self.check_runs = check_runs  # gr.Error for runs the page may not see (another visitor's, on a Space)

    # ---- choosing an image ----
    def ranking(
        self,
        run_ids: Sequence[str] | None,
        metric: str,
        image: str | None = None,
        request: gr.Request | None = None,
    ) -> tuple:
        """The chosen runs' images ranked by the paired difference ``b - a`` on ``metric`` (largest gaps first),
        a note, and the image picker in that order (``image`` kept when the runs hold it, else the top one)."""
        if not run_ids:
            return formatting.empty_table(formatting.EMPTY_RANKING), "", gr.update(choices=[], value=None)
        self.check_runs(run_ids, request)
        frame = self._rows(run_ids)
        try:
            gaps = image_gaps(frame, inputs.metric_name(metric))
            names, note = list(gaps["image"]), ""
        except ValueError as err:  # one checkpoint, no shared masks: the images still open, unranked
            gaps, names = formatting.empty_table(formatting.EMPTY_UNRANKED), list(dict.fromkeys(frame["image"]))
            note = f"Images are not ranked: {err}"
        chosen = image if image in names else (names[0] if names else None)
        return formatting.rounded(gaps), note, gr.update(choices=names, value=chosen)

    @staticmethod
    def pick_row(table: pd.DataFrame, event: gr.SelectData) -> str:
        """The image of the ranking row the visitor clicked."""
        row = event.index[0] if isinstance(event.index, (list, tuple)) else event.index
        try:
            return str(table.iloc[int(row)]["image"])
        except (IndexError, KeyError, ValueError, TypeError):
            raise gr.Error("Click a row of the ranking to open its image.") from None

    def seed_choices(self, run_ids: Sequence[str] | None, image: str | None, request: gr.Request | None = None) -> dict:
        """The seed picker for the image: the seeds its run measured it at, the first picked."""
        if not run_ids or not image:
            return gr.update(choices=[], value=None)
        self.check_runs(run_ids, request)
        rows = self._image_rows(run_ids, image)
        seeds = sorted(int(s) for s in rows["seed"].unique())
        return gr.update(choices=seeds, value=seeds[0] if seeds else None)

    # ---- the gallery ----
    def gallery(
        self,
        run_ids: Sequence[str] | None,
        image: str | None,
        seed: float | None,
        request: gr.Request | None = None,
    ) -> tuple:
        """The image at every mask strategy and ratio of its run at ``seed``: per cell the masked input, then each
        checkpoint's reconstruction (visible patches pasted back), captioned with its metrics, and for a run of two
        checkpoints the per-patch difference ``b - a`` of their squared error on that mask (one symmetric colour
        scale over the gallery); the metrics table (recomputed, beside the run's values); a note; and per picture
        the cell it shows (for a click to replay). Empty while no image is chosen."""
        if not run_ids or not image or seed is None:
            return gr.update(value=[]), formatting.empty_table(formatting.EMPTY_CELLS), "", []
        self.check_runs(run_ids, request)
        rows = self._image_rows(run_ids, image)
        run_id = _first_run(run_ids, rows)
        replayed = self._replay(run_id, image, seed)
        # a and b as the ranking pairs them: the pixel checkpoint and the GAN one, else the run's order
        pair = pair_checkpoints(rows[rows["run_id"] == run_id]) if len(replayed.checkpoints) == 2 else None
        groups = _by_ratio(replayed)
        differences = [_difference(cells, pair) for cells in groups] if pair else [None] * len(groups)
        if pair:  # one scale for the whole gallery, so the rows compare
            limit = symmetric_limit([d.diff[0] for d in differences], [d.masks[0] for d in differences])
        items, targets = [], []
        for cells, difference in zip(groups, differences):
            first = cells[0]
            removed, total = first.record.masked_patches, first.reconstruction.mask.size
            caption = f"{first.mask} {first.mask_ratio:g}: masked input, {removed} of {total} patches removed"
            items.append((served_png(first.reconstruction.masked, "masked"), caption))
            items += [
                (served_png(c.reconstruction.reconstruction_visible, "reconstruction"), _caption(c)) for c in cells
            ]
            if difference is not None:
                size = first.reconstruction.original.shape[:2]
                items.append((_difference_png(difference, size, limit), _difference_caption(difference, pair)))
            target = (run_id, image, first.mask_ratio, replayed.seed, first.mask)
            targets += [target] * (len(items) - len(targets))
        columns = 1 + len(replayed.checkpoints) + (1 if pair else 0)
        return gr.update(value=items, columns=columns), cells_table(replayed), _replay_note(replayed), targets

    @staticmethod
    def pick_cell(targets: Sequence[tuple], event: gr.SelectData) -> tuple:
        """The replay controls for the gallery picture the visitor clicked: run, image, ratio, seed, mask."""
        try:
            return tuple(targets[int(event.index)])
        except (IndexError, TypeError, ValueError):
            raise gr.Error("Click a picture of the gallery to replay its cell.") from None

    # ---- one cell (/replay) ----
    def replay_cell(
        self,
        run_id: str,
        image: str,
        mask_ratio: float,
        seed: float,
        mask: str | None,
        request: gr.Request | None = None,
    ) -> tuple:
        """Re-render one row of a run: image ``image`` (its name in the run, or its file name) at ``mask_ratio``,
        ``seed`` and ``mask`` strategy, with the run's checkpoints.

        Returns, in order: the four panels and the error heatmap of the run's first checkpoint (5 PNG file paths),
        the same for the second (empty for a one-checkpoint run), the metrics table (recomputed metrics under the
        CSV's column names, the run's values as ``csv_<metric>``) and a note in Markdown."""
        if not run_id or not image:
            raise gr.Error("Give a run id and an image name.")
        try:
            ratio = float(mask_ratio)
        except (TypeError, ValueError):
            raise gr.Error(f"the mask ratio must be a number, got {mask_ratio!r}") from None
        self.check_runs([str(run_id).strip()], request)
        # ``mask``: the /replay parameter's name for the strategy
        strategies = (mask or DEFAULT_MASK,)
        replayed = self._replay(str(run_id).strip(), str(image).strip(), seed, strategies=strategies, ratios=[ratio])
        cells = replayed.cells[:2]
        vmax = heatmap_scale([c.reconstruction for c in cells])
        panels = [path for cell in cells for path in panel_files(cell.reconstruction, vmax)]
        panels += [None] * (2 * CELL_PANELS - len(panels))
        return (*panels, cells_table(replayed), _replay_note(replayed))

    # ---- the breakdown ratio (/breakdown) ----
    def breakdown(
        self,
        run_ids: Sequence[str] | str | None,
        image: str | None,
        threshold: str | None = DEFAULT_THRESHOLD,
        request: gr.Request | None = None,
    ) -> tuple:
        """Image ``image`` (its name in the runs, as in the ranking) of the runs ``run_ids`` (a list of run ids, or
        one string of them comma-separated): per checkpoint its breakdown ratio at ``threshold`` (``psnr<20``,
        ``lpips>0.4``: what ``report --breakdown`` accepts), the bootstrap interval over its seeds, the number of
        seeds, and the paired ``b - a`` with its interval; the same numbers the report writes for that image.
        Returns the table and a note in Markdown; ``gr.Error`` (one line) for a bad threshold, runs or image."""
        if isinstance(run_ids, str):
            run_ids = [part.strip() for part in run_ids.split(",") if part.strip()]
        if not run_ids:
            raise gr.Error("Pick at least one run.")
        if not image or not str(image).strip():
            raise gr.Error("Give an image name (its name in the runs, as in the ranking).")
        run_ids = [str(run).strip() for run in run_ids]
        self.check_runs(run_ids, request)
        return breakdown_of(self._rows(run_ids), str(image).strip(), threshold)

    def show_breakdown(
        self, run_ids: Sequence[str] | None, image: str | None, threshold: str | None, request: gr.Request | None = None
    ) -> tuple:
        """The page's breakdown table: :meth:`breakdown`, with a user error (a bad threshold) as the note under an
        emptied table instead of raised. Empty while no image is chosen."""
        if not run_ids or not image:
            return formatting.empty_table(formatting.EMPTY_BREAKDOWN), ""
        try:
            return self.breakdown(run_ids, image, threshold, request)
        except gr.Error as err:
            log_refusal("breakdown", err)
            # escaped: Markdown would take "<VALUE or METRIC>" for an HTML tag and drop it
            note = f"**Not done:** {html.escape(message(err), quote=False)}"
            return formatting.empty_table(formatting.EMPTY_BREAKDOWN), note

    # ---- links ----
    @staticmethod
    def runs_link(run_ids: Sequence[str] | None, metric: str, image: str | None) -> str:
        """The query string of the Runs tab's current view."""
        return links.runs_query(links.RunsView(runs=tuple(run_ids or ()), metric=metric or None, image=image or None))

    # ---- helpers ----
    def _replay(
        self,
        run_id: str,
        image: str,
        seed: float | None,
        strategies: Sequence[str] = (),
        ratios: Sequence[float] | None = None,
    ) -> RunReplay:
        """The image's cells at ``seed`` under each of ``strategies`` (none given: every strategy the run measured it
        with at that seed), as one replay."""
        seed_value = inputs.whole_seed(seed)
        try:
            chosen = strategies or measured_masks(run_id, image, seed_value, root=self.run_root) or (DEFAULT_MASK,)
            parts = [
                replay(run_id, image, seed=seed_value, models=self.model, root=self.run_root, ratios=ratios, mask=name)
                for name in chosen
            ]
        except ValueError as err:  # not in the run, image gone or changed, checkpoint changed, bad run id
            raise gr.Error(space.for_visitor(str(err)), title="Cannot replay") from None
        return dataclasses.replace(parts[0], cells=tuple(cell for part in parts for cell in part.cells))

    def _rows(self, run_ids: Sequence[str]) -> pd.DataFrame:
        try:
            return load_runs(list(run_ids), self.run_root)
        except ValueError as err:
            raise inputs.user_error(err) from None

    def _image_rows(self, run_ids: Sequence[str], image: str) -> pd.DataFrame:
        frame = self._rows(run_ids)
        rows = frame[frame["image"] == image]
        if rows.empty:
            raise gr.Error(f"The chosen runs hold no image {image!r}.")
        return rows


def _first_run(run_ids: Sequence[str], rows: pd.DataFrame) -> str:
    """The first chosen run (in the picker's order) that measured the image of ``rows``."""
    runs = set(rows["run_id"])
    return next(r for r in run_ids if r in runs)


def _by_ratio(replayed: RunReplay) -> list[list[ReplayCell]]:
    """The cells grouped by (mask, ratio), each group in the run's checkpoint order."""
    groups: dict[tuple[str, str], list[ReplayCell]] = {}
    for cell in replayed.cells:
        groups.setdefault((cell.mask, format_ratio(cell.mask_ratio)), []).append(cell)
    return list(groups.values())


def _difference(cells: Sequence[ReplayCell], pair: tuple[str, str]) -> PatchDifference:
    """``b - a`` of the two cells' per-patch squared error (one mask, one ratio: the mask both share)."""
    by_name = {cell.checkpoint: cell for cell in cells}
    a, b = (by_name[name] for name in pair)
    return difference_of(
        a.reconstruction.patch_error[None],
        b.reconstruction.patch_error[None],
        a.reconstruction.mask[None],
        metric="mse",
        seeds=(a.seed,),
        mask_ratio=a.mask_ratio,
        strategy=a.mask,
    )


def _difference_png(difference: PatchDifference, size: tuple[int, int], limit: float) -> str:
    """The difference as a diverging map (blue below 0, white at 0, red above; ``-limit`` to ``limit``) beside its
    numbered colour bar, as a served PNG."""
    picture = heatmap_with_scale(
        difference.diff[0], difference.masks[0], size, limit, vmin=-limit, colormap=DIVERGING_COLORMAP
    )
    return served_png(picture, "difference")


def _difference_caption(difference: PatchDifference, pair: tuple[str, str]) -> str:
    a, b = pair
    return f"b - a per-patch MSE ({b} - {a}): b better on {difference.fraction_b_better:.0%} of removed patches"


def _caption(cell: ReplayCell) -> str:
    numbers = ", ".join(f"{name} {value:.4g}" for name, value in cell.metrics.items())
    return f"{cell.checkpoint}, {cell.mask} {cell.mask_ratio:g}: {numbers}"


def cells_table(replayed: RunReplay) -> pd.DataFrame:
    """One row per replayed cell: recomputed metrics under the CSV's names, the run's as ``csv_<metric>``, and the
    largest difference, rounded to 4 significant digits as every table of the app (the CSV keeps full precision)."""
    rows = []
    for cell in replayed.cells:
        row = {
            "checkpoint": cell.checkpoint,
            "mask": cell.mask,
            "mask_ratio": cell.mask_ratio,
            "seed": cell.seed,
            "masked_patches": cell.record.masked_patches,
            **cell.metrics,
            **{f"csv_{name}": cell.stored.get(name) for name in METRIC_NAMES if name in cell.metrics},
            "max_abs_diff": cell.difference(),
        }
        rows.append(row)
    return formatting.rounded(pd.DataFrame(rows))


def _replay_note(replayed: RunReplay) -> str:
    if replayed.image.copy:
        where = "the run's own copy"
    elif replayed.image.data is not None:
        where = "its dataset row (unchanged: same sha256)"
    else:
        where = "its original file (unchanged: same sha256)"
    worst = max((c.difference() for c in replayed.cells), default=float("nan"))
    return (
        f"Run **{replayed.run_id}**, image `{replayed.image.name}` read from {where}, seed {replayed.seed}, "
        f"{replayed.dtype}{', centre crop' if replayed.crop else ''}. Metrics recomputed the way the sweep computed "
        f"them; the largest difference to the run's CSV is {worst:.3g}. Same mask for every checkpoint of a ratio."
    )
