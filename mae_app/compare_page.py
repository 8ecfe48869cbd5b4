"""The Compare tab's own events around :meth:`MAEApp.compare`: what the panels show is what the controls say.

- **Errors keep the last good result.** A user error (seed -1, a text file named ``.png``) becomes the note under
  the panels; the panels, the table and the controls stay as they were (the API's ``/compare`` still raises).
- **Stale results.** :class:`Shown` records the settings of the result on screen; a control changed after it
  marks the panels stale in words (:meth:`ComparePage.stale`) until the next run, and "Copy link" gives the link of
  the result shown, not of the changed controls.
- **The draw race.** Stroke previews reach the server in any order (the browser uploads each painting while it
  sends the preview), and some come back after a Reconstruct pressed right after the last stroke. Each stroke is
  stamped in the browser before its painting is read; a preview older than one the page has already been sent
  changes nothing. Once a page has asked for a run, previews only renew the drawn patch list (the result is then
  marked stale when the drawing differs) and never touch the panels, the table or the note; a reset painter (a new
  image, checkpoint, crop or strategy) starts over, previews filling the masked panels until the next run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path

import gradio as gr

from mae_core.files import file_sha256
from mae_core.options import CUSTOM_MASK

from . import formatting, inputs
from .handlers import MAEApp, session_key
from .panels import PANEL_FILES
from .user_errors import as_note, log_refusal

PANELS = 2 * len(PANEL_FILES)


@dataclass(frozen=True)
class Settings:
    """The Compare controls, as text, normalised so that equal settings give equal results (the image by content,
    the ratio and seed only for seeded masks, the drawn patches only for draw)."""

    image: str  # the image's sha256, "" for none
    a: str
    b: str
    strategy: str
    ratio: str
    seed: str
    crop: str
    removed: str
    keep_aspect: str
    denorm: str

    @classmethod
    def of(
        cls, image, a, b, ratio, seed, crop=False, strategy="random", removed="", native=False, denorm="honest"
    ) -> Settings:
        strategy = inputs.strategy_name(strategy)
        drawn = strategy == CUSTOM_MASK
        return cls(
            image=file_sha256(image) if image and Path(image).is_file() else "",
            a=str(a or ""),
            b=str(b or ""),
            strategy=inputs.DRAW if drawn else strategy,
            ratio="" if drawn else _text(lambda: f"{float(ratio):.6g}", ratio),
            seed="" if drawn else _text(lambda: str(inputs.whole_seed(seed)), seed),
            crop="on" if crop else "off",
            removed=_text(lambda: formatting.patch_list(inputs.removed_patches(removed)), removed) if drawn else "",
            keep_aspect="on" if native else "off",
            denorm=str(denorm or "honest"),
        )

    def changes(self, now: Settings) -> list[str]:
        """What differs in ``now``, in words ("seed 0 -> 5")."""
        words = []
        for field in fields(self):
            before, after = getattr(self, field.name), getattr(now, field.name)
            if before == after:
                continue
            if field.name == "image":
                words.append("another image")
            elif field.name == "removed":
                words.append("the drawing")
            else:
                words.append(f"{_LABELS[field.name]} {before or '-'} -> {after or '-'}")
        return words


_LABELS = {
    "a": "top checkpoint",
    "b": "bottom checkpoint",
    "strategy": "mask",
    "ratio": "ratio",
    "seed": "seed",
    "crop": "centre crop",
    "keep_aspect": "keep aspect",
    "denorm": "norm-pix de-normalisation",
}


def _text(convert, raw) -> str:
    try:
        return convert()
    except (gr.Error, TypeError, ValueError, OverflowError):
        return str(raw)


@dataclass(frozen=True)
class Shown:
    """The Compare result on screen: the settings that made it, its note, and the query string of its link
    (``link_error`` instead when it has none: a drawn mask)."""

    settings: Settings
    note: str
    link: str | None
    link_error: str | None = None


class ComparePage:
    """The page's Compare events over ``app``, running ``compare`` (default ``app.compare``); which pages (gradio
    sessions) asked for a run since their painter was last reset."""

    def __init__(self, app: MAEApp, compare: Callable[..., tuple] | None = None) -> None:
        self.app = app
        # app.compare, or it wrapped to run on a GPU (ZeroGPU runs that in another process: the bookkeeping here
        # stays outside it, in the server's)
        self.compare = compare or app.compare
        self._ran: set[str] = set()
        self._strokes: dict[str, float] = {}  # per page, the latest stroke a preview was asked for
        self._lock = threading.Lock()

    # ---- running ----
    def run(
        self,
        shown: Shown | None,
        image: str | None,
        a: str,
        b: str,
        mask_ratio: float,
        seed: float,
        crop: bool = False,
        strategy: str = "random",
        removed: str | None = "",
        native: bool = False,
        denorm: str = "honest",
        request: gr.Request | None = None,
    ) -> tuple:
        """Reconstruct as :meth:`MAEApp.compare` (panels, table, note), then the new :class:`Shown`. A user error
        leaves the panels, the table and the record as they were; the note says what went wrong."""
        self._mark_run(request, True)  # from now on, previews leave the panels alone
        controls = (image, a, b, mask_ratio, seed, crop, strategy, removed, native, denorm)
        try:
            outputs = self.compare(*controls)
        except gr.Error as err:
            log_refusal("compare", err)
            if shown is None:  # nothing on screen to keep: previews may fill the panels again
                self._mark_run(request, False)
            note = as_note(err, shown.note if shown else None)
            return (*_skips(PANELS + 1), note, gr.skip())
        try:
            link, link_error = self.app.compare_link(*controls), None
        except gr.Error as err:  # a drawn mask: links carry seeded masks only
            link, link_error = None, str(err)
        return (*outputs, Shown(Settings.of(*controls), outputs[-1], link, link_error))

    def run_linked(self, request: gr.Request | None, linked: bool, shown: Shown | None, *controls) -> tuple:
        """The Compare a page's link set up, run at once (:meth:`run`, ``controls`` in its order); nothing when the
        link set none. (``request`` comes first: gradio passes it only to parameters before ``*controls``.)"""
        if not linked:
            return _skips(PANELS + 3)
        return self.run(shown, *controls, request=request)

    # ---- the painter and its previews ----
    def canvas(
        self, strategy: str, image: str | None, a: str, crop: bool = False, request: gr.Request | None = None
    ) -> tuple:
        """:meth:`MAEApp.drawing_canvas`; the painter starts over, so its previews may fill the panels again."""
        self._mark_run(request, False)
        return self.app.drawing_canvas(strategy, image, a, crop)

    def preview_drawing(
        self,
        painting: dict | None,
        stroke: float | None,
        image: str | None,
        a: str,
        b: str,
        crop: bool = False,
        request: gr.Request | None = None,
    ) -> tuple:
        """:meth:`MAEApp.preview_drawing` (the patch list, the panels, the note), then the table and the record of
        the result, both cleared: the panels show the drawing, not a result. Only the patch list once the page
        asked for a run; nothing when the page has seen a preview of a later stroke (``stroke``: when the painting
        was read, on the browser's clock; None orders nothing)."""
        key = session_key(request)
        if not self._see_stroke(key, stroke):  # a later stroke's preview came first: nothing to make
            return _skips(1 + PANELS + 3)
        outputs = self._preview(request, 1, lambda: self.app.preview_drawing(painting, image, a, b, crop))
        return outputs if self._see_stroke(key, stroke) else _skips(len(outputs))  # or came while this was made

    def preview_patches(
        self,
        removed: str | None,
        image: str | None,
        a: str,
        b: str,
        crop: bool = False,
        request: gr.Request | None = None,
    ) -> tuple:
        """:meth:`MAEApp.preview_patches`, as :meth:`preview_drawing` (nothing once the page asked for a run)."""
        return self._preview(request, 0, lambda: self.app.preview_patches(removed, image, a, b, crop))

    def _see_stroke(self, key: str, stroke: float | None) -> bool:
        """Record that the page ``key`` sent a preview of the painting read at ``stroke``; whether no later one
        came before it."""
        if stroke is None:
            return True
        with self._lock:
            latest = max(self._strokes.get(key, stroke), stroke)
            self._strokes[key] = latest
        return stroke >= latest

    def _preview(self, request: gr.Request | None, leading: int, make) -> tuple:
        """``make()``'s outputs (``leading`` outputs before the panels, then the panels and the note), then the
        table and the record; only the leading ones when the page asked for a run (checked once the preview is
        made: a Reconstruct pressed meanwhile wins)."""
        try:
            outputs = (*make(), None, None)
        except gr.Error as err:
            log_refusal("preview", err)
            outputs = (*_skips(leading + PANELS), as_note(err), gr.skip(), gr.skip())
        with self._lock:
            ran = session_key(request) in self._ran
        return (*outputs[:leading], *_skips(len(outputs) - leading)) if ran else outputs

    # ---- staleness and links ----
    def stale(self, shown: Shown | None, *controls) -> str:
        """Empty while the controls (:meth:`run`'s, in its order) say what the result on screen was made with;
        else what changed, in words."""
        if shown is None:
            return ""
        changes = shown.settings.changes(Settings.of(*controls))
        if not changes:
            return ""
        return (
            f"**Stale:** the panels and the table were made before these changes: {'; '.join(changes)}. "
            "Press **Reconstruct** to update them (a copied link gives the result shown)."
        )

    def link(self, shown: Shown | None, *controls) -> str:
        """The query string of the result on screen (the controls' before any result)."""
        if shown is None:
            return self.app.compare_link(*controls)
        if shown.link is None:
            raise gr.Error(shown.link_error or "This result has no link.")
        return shown.link

    def _mark_run(self, request: gr.Request | None, ran: bool) -> None:
        with self._lock:
            (self._ran.add if ran else self._ran.discard)(session_key(request))


def _skips(count: int) -> tuple:
    return tuple(gr.skip() for _ in range(count))
