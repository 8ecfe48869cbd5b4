"""Compare handlers: both checkpoints reconstruct one image under the same mask, and the rows' headings."""

from __future__ import annotations

import secrets

from mae_core.checkpoints.registry import registry
from mae_core.evaluation.metrics import plan_metrics
from mae_core.evaluation.reconstruct import reconstruct

from .. import formatting, inputs, space
from ..panels import heatmap_scale, panel_files
from .base import AppState


class CompareHandlers(AppState):
    """The Compare tab's run, its new-seed button and its row headings."""

    @staticmethod
    def new_seed() -> int:
        """A fresh random seed (the UI's "new seed" button); any seed reproduces its mask exactly later."""
        return secrets.randbelow(inputs.SEED_LIMIT)

    def compare(
        self,
        image: str | None,
        first: str,  # checkpoint a; ``first`` / ``second`` are the /compare API's parameter names
        second: str,  # checkpoint b
        mask_ratio: float,
        seed: float,
        crop: bool = False,
        strategy: str = "random",
        removed: str | None = "",
        native: bool = False,
        denorm: str = "honest",
    ) -> tuple:
        """Reconstruct ``image`` with both checkpoints under the same mask: a seeded ``strategy`` at ``mask_ratio``,
        or ``custom`` (``draw``) removing exactly the patch indices in ``removed`` (the ratio is then the drawn one).
        ``native``: keep the image's aspect and size (``reconstruct(size="native")``) instead of the model's square
        (``crop`` then has nothing to cut); drawn masks are drawn on the square, so they refuse it. ``denorm``: how
        a norm-pix checkpoint's per-patch normalised prediction is put back into pixels, ``honest`` (statistics from
        the visible patches only) or ``oracle`` (each removed patch's true statistics: leaks the answer); the note
        gives both modes' removed-patch MSE. Pixel checkpoints ignore it.

        Returns, in order: the four panels and the error heatmap of ``first`` (5 PNG file paths), the same for
        ``second``, the metrics table and a note in Markdown.
        """
        picture = inputs.read_image(image)
        seed_value, mask_args = inputs.compare_mask(seed, strategy, removed)
        size = inputs.compare_size(native, mask_args)
        mode = inputs.denorm_mode(denorm)
        plan = plan_metrics()  # the default set: lpips only when its weights are here, else a note saying how
        pair = (first, second)
        results = []
        for name in pair:
            model = self.model(name)
            try:
                rec = reconstruct(
                    model,
                    picture,
                    float(mask_ratio),
                    seed_value,
                    crop=bool(crop),
                    metrics=plan.names,
                    **mask_args,
                    **size,
                    **({"denorm": mode} if model.config.norm_pix_loss else {}),
                )
                results.append(rec)
            except ValueError as err:  # mask ratio or drawn patches out of range for this model's grid...
                raise inputs.user_error(err) from None
        vmax = heatmap_scale(results)
        outputs = [path for result in results for path in panel_files(result, vmax)]
        loss_types = [self.loss_type(name) for name in pair]
        table = formatting.metrics_table(pair, results, loss_types)
        note = formatting.compare_note(results, vmax, space.for_visitor(plan.note))
        return (*outputs, table, note + formatting.norm_pix_note(pair, results))

    def row_label(self, row: str, name: str | None) -> str:
        """The heading of a Compare row (``top`` / ``bottom``) for the checkpoint chosen there, with its loss type:
        the registry's, else the loaded file's (a checkpoint that cannot load is named without one)."""
        entry = registry().get(name) if name else None
        try:
            loss_type = entry.loss_type if entry is not None else (self.loss_type(name) if name else None)
        except (ValueError, OSError, RuntimeError):
            loss_type = None
        label = formatting.row_label(row, name, loss_type)
        refusal = self.availability.refusal(name) if name and name not in self.models else None
        return f"{label}  \n_{refusal}_" if refusal else label
