"""Page handlers: what a new page shows (the default pair or its link's view) and the Compare tab's shareable link."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import gradio as gr

from mae_core.files import file_sha256
from mae_core.options import CUSTOM_MASK

from .. import inputs, links, space
from .base import AppState


class PageStart(NamedTuple):
    """What :meth:`PageHandlers.on_load` sets on a new page, in the order of the load event's outputs."""

    image: str | None  # an example's file when the link names one
    first: dict  # the checkpoint dropdowns' updates (choices and value): a's, then b's
    second: dict
    ratio: dict
    seed: dict
    crop: dict
    strategy: dict
    tabs: dict  # the tab to open
    note: str  # the status line, in Markdown
    linked: bool  # the link set up a Compare: the page runs it at once


class PageHandlers(AppState):
    """A new page's start and the Compare tab's link."""

    def on_load(self, request: gr.Request | None = None) -> PageStart:
        """A new page: the Compare controls (the default pair, or what the page's link asks for), the tab to open,
        the status note, and whether the link names an example (the page then runs that Compare at once)."""
        names = self.checkpoint_choices()
        a, b, note = self.page_pair()
        link = self.page_link(request)
        view = link.compare
        lines = [f"**Checkpoints:** {a} (top) vs {b} (bottom), {note}."]
        lines += [f"_{extra()}_" for extra in self.notes]
        lines += [f"_Link: {problem}._" for problem in link.problems]
        return PageStart(
            # a plain value, not gr.update: an update would rebuild the checked image input without its checks
            str(self.examples[view.example]) if view.example else None,
            gr.update(choices=names, value=view.a or a),
            gr.update(choices=names, value=view.b or b),
            gr.update() if view.ratio is None else gr.update(value=view.ratio),
            gr.update() if view.seed is None else gr.update(value=view.seed),
            gr.update() if view.crop is None else gr.update(value=view.crop),
            gr.update() if view.mask is None else gr.update(value=view.mask),
            gr.update(selected=link.open_tab) if link.open_tab else gr.update(),
            space.for_visitor("\n\n".join(lines)),
            view.example is not None,
        )

    def checkpoint_choices(self) -> list[str | tuple[str, str]]:
        """The checkpoint dropdowns' choices: each name, labelled when it is not on disk (downloads on first use,
        or cannot be had now)."""
        return self.availability.choices(list(self.choices()))

    def example_name(self, image: str | None) -> str | None:
        """The example an image file is (by content: gradio serves copies of examples), else None."""
        if not image or not Path(image).is_file():
            return None
        digest = file_sha256(image)
        return next((name for name, path in self.examples.items() if file_sha256(path) == digest), None)

    def compare_link(
        self,
        image: str | None,
        a: str,
        b: str,
        ratio: float,
        seed: float,
        crop: bool,
        strategy: str = "random",
        removed: str | None = "",
        native: bool = False,
        denorm: str = "honest",
    ) -> str:
        """The query string of the Compare tab's current view (the page prefixes its own address). Links carry
        seeded masks on the model's square input, norm-pix checkpoints de-normalised honestly; a drawn mask, a kept
        aspect or the oracle is refused with a message (links name examples and the settings listed in
        docs/app.md)."""
        strategy = inputs.compare_strategy(strategy)
        if strategy == CUSTOM_MASK:
            raise gr.Error("Links carry random, block or grid masks, not drawn ones: choose one of those to share.")
        if native:
            raise gr.Error("Links carry the square input, not a kept aspect: untick 'Keep aspect' to share.")
        if denorm != "honest" and any(self.model(name).config.norm_pix_loss for name in (a, b) if name):
            raise gr.Error("Links carry the honest de-normalisation of norm-pix checkpoints: choose honest to share.")
        view = links.CompareView(
            example=self.example_name(image),
            a=a or None,
            b=b or None,
            ratio=float(ratio),
            seed=inputs.whole_seed(seed),
            mask=strategy,
            crop=bool(crop),
        )
        return links.compare_query(view)
