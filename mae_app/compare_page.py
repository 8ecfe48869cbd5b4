"""The Compare tab's own events around :meth:`MAEApp.compare`: what the panels show is what the controls say.

- **Errors keep the last good result.** A user error (seed -1, a text file named ``.png``) becomes the note under
  the panels; the panels, the table and the controls stay as they were (the API's ``/compare`` still raises).
- **Stale results.** :class:`Shown` records the settings of the result on screen; a control changed after it
  marks the panels stale in words (:meth:`ComparePage.stale`) until the next run, and "Copy link" gives the link of
  the result shown, not of the changed controls.
- **The draw race.** Each event carries the browser's time of its trigger (:func:`stamp_js`); a drawing preview
  triggered before the page's latest Reconstruct is dropped, so a late stroke preview never replaces or blanks a
  result. A preview triggered after it (a new stroke) replaces the result whole: masked panels, no table.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, fields
from pathlib import Path

import gradio as gr

from mae_core.files import file_sha256
from mae_core.mask_strategies import CUSTOM_MASK

from . import formatting, inputs
from .handlers import MAEApp, session_key
from .panels import PANEL_FILES
from .user_errors import as_note, log_refusal

PANELS = 2 * len(PANEL_FILES)


def stamp_js(num_inputs: int, at: int = 0) -> str:
    """An event's ``js``: its input ``at`` (the hidden stamp number) becomes the browser's clock in ms at the
    trigger; the other inputs pass unchanged (gradio hands ``js`` the inputs, then the outputs)."""
    return f"(...args) => {{ const values = args.slice(0, {num_inputs}); values[{at}] = Date.now(); return values; }}"


@dataclass(frozen=True)
class Settings:
    """The Compare controls, as text, normalised so that equal settings give equal results (the image by content,
    the ratio and seed only for seeded masks, the drawn patches only for draw)."""

    image: str  # the image's sha256, "" for none
    first: str
    second: str
    strategy: str
    ratio: str
    seed: str
    crop: str
    removed: str

    @classmethod
    def of(cls, image, first, second, ratio, seed, crop, strategy, removed) -> Settings:
        strategy = CUSTOM_MASK if strategy == inputs.DRAW else str(strategy or "random")
        drawn = strategy == CUSTOM_MASK
        return cls(
            image=file_sha256(image) if image and Path(image).is_file() else "",
            first=str(first or ""),
            second=str(second or ""),
            strategy=inputs.DRAW if drawn else strategy,
            ratio="" if drawn else _text(lambda: f"{float(ratio):.6g}", ratio),
            seed="" if drawn else _text(lambda: str(inputs.whole_seed(seed)), seed),
            crop="on" if crop else "off",
            removed=_text(lambda: formatting.patch_list(inputs.removed_patches(removed)), removed) if drawn else "",
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
    "first": "top checkpoint",
    "second": "bottom checkpoint",
    "strategy": "mask",
    "ratio": "ratio",
    "seed": "seed",
    "crop": "centre crop",
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
    """The page's Compare events over ``app``; per page (gradio session) the browser time of its latest run."""

    def __init__(self, app: MAEApp) -> None:
        self.app = app
        self._latest_run: dict[str, float] = {}
        self._lock = threading.Lock()

    # ---- running ----
    def run(
        self,
        stamp: float | None,
        shown: Shown | None,
        image: str | None,
        first: str,
        second: str,
        mask_ratio: float,
        seed: float,
        crop: bool = False,
        strategy: str = "random",
        removed: str | None = "",
        request: gr.Request | None = None,
    ) -> tuple:
        """Reconstruct as :meth:`MAEApp.compare` (panels, table, note), then the new :class:`Shown`. A user error
        leaves the panels, the table and the record as they were; the note says what went wrong."""
        self._note_run(request, stamp)
        controls = (image, first, second, mask_ratio, seed, crop, strategy, removed)
        try:
            outputs = self.app.compare(*controls)
        except gr.Error as err:
            log_refusal("compare", err)
            note = as_note(err, shown.note if shown else None)
            return (*_skips(PANELS + 1), note, gr.skip())
        try:
            link, link_error = self.app.compare_link(*controls), None
        except gr.Error as err:  # a drawn mask: links carry seeded masks only
            link, link_error = None, str(err)
        return (*outputs, Shown(Settings.of(*controls), outputs[-1], link, link_error))

    def run_linked(
        self,
        linked: bool,
        stamp: float | None,
        shown: Shown | None,
        image: str | None,
        first: str,
        second: str,
        mask_ratio: float,
        seed: float,
        crop: bool = False,
        strategy: str = "random",
        removed: str | None = "",
        request: gr.Request | None = None,
    ) -> tuple:
        """The Compare a page's link set up, run at once (:meth:`run`); nothing when the link set none."""
        if not linked:
            return _skips(PANELS + 3)
        controls = (image, first, second, mask_ratio, seed, crop, strategy, removed)
        return self.run(stamp, shown, *controls, request=request)

    # ---- drawing previews ----
    def preview_drawing(
        self,
        stamp: float | None,
        painting: dict | None,
        image: str | None,
        first: str,
        second: str,
        crop: bool = False,
        request: gr.Request | None = None,
    ) -> tuple:
        """:meth:`MAEApp.preview_drawing` unless a run was asked for after this stroke; with the table and the
        record of the result cleared (the panels now show the drawing, not a result)."""
        return self._preview(request, stamp, 1, lambda: self.app.preview_drawing(painting, image, first, second, crop))

    def preview_patches(
        self,
        stamp: float | None,
        removed: str | None,
        image: str | None,
        first: str,
        second: str,
        crop: bool = False,
        request: gr.Request | None = None,
    ) -> tuple:
        """:meth:`MAEApp.preview_patches`, as :meth:`preview_drawing`."""
        return self._preview(request, stamp, 0, lambda: self.app.preview_patches(removed, image, first, second, crop))

    def _preview(self, request, stamp, leading: int, make) -> tuple:
        """``make()``'s outputs (``leading`` outputs before the panels, then the panels and the note), then the
        table and the record; all skipped when the page ran a Compare after the preview's trigger."""
        try:
            outputs = (*make(), None, None)
        except gr.Error as err:
            log_refusal("preview", err)
            outputs = (*_skips(leading + PANELS), as_note(err), gr.skip(), gr.skip())
        return _skips(len(outputs)) if self._superseded(request, stamp) else outputs

    # ---- staleness and links ----
    def stale(
        self,
        shown: Shown | None,
        image: str | None,
        first: str,
        second: str,
        mask_ratio: float,
        seed: float,
        crop: bool = False,
        strategy: str = "random",
        removed: str | None = "",
    ) -> str:
        """Empty while the controls say what the result on screen was made with; else what changed, in words."""
        if shown is None:
            return ""
        changes = shown.settings.changes(Settings.of(image, first, second, mask_ratio, seed, crop, strategy, removed))
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

    # ---- which events are superseded ----
    def _note_run(self, request: gr.Request | None, stamp: float | None) -> None:
        if stamp is None:
            return
        with self._lock:
            key = session_key(request)
            self._latest_run[key] = max(float(stamp), self._latest_run.get(key, float("-inf")))

    def _superseded(self, request: gr.Request | None, stamp: float | None) -> bool:
        """Whether this page asked for a run after ``stamp`` (a preview triggered before it must not land)."""
        if stamp is None:
            return False
        with self._lock:
            return float(stamp) < self._latest_run.get(session_key(request), float("-inf"))


def _skips(count: int) -> tuple:
    return tuple(gr.skip() for _ in range(count))
