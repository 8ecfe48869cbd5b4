"""The API's default checkpoints follow the pair the page shows.

``gradio_client`` fills the parameters a caller leaves out with the defaults the server's ``/info`` reports, and
gradio takes those from each input component's value as configured at launch, then caches the description. So
``client.predict(image, api_name="/compare")`` uses whatever the checkpoint dropdowns held when the page was built:
they are built with the pair decided at start-up, and when that pair changes while the server runs (a Space's
background download finishes, a visitor downloads a checkpoint) :meth:`PairDefaults.update` moves the dropdowns'
values, the served page config and the cached API descriptions together.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import gradio as gr


class PairDefaults:
    """Keeps the values of two checkpoint dropdowns (top row, bottom row) equal to the current default pair."""

    def __init__(self, demo: gr.Blocks, dropdowns: Sequence[gr.Dropdown]) -> None:
        self.demo = demo
        self.dropdowns = tuple(dropdowns)
        self._lock = threading.Lock()

    @property
    def values(self) -> tuple:
        return tuple(dropdown.value for dropdown in self.dropdowns)

    def update(self, *names: str) -> bool:
        """Make ``names`` the dropdowns' values and API defaults; False when they already were."""
        if len(names) != len(self.dropdowns):
            raise ValueError(f"expected {len(self.dropdowns)} checkpoint names, got {names!r}")
        with self._lock:
            if self.values == names:
                return False
            for dropdown, name in zip(self.dropdowns, names):
                dropdown.value = name
                self._set_config_value(dropdown, name)
            self._forget_api_info()
        return True

    def _set_config_value(self, dropdown: gr.Dropdown, name: str) -> None:
        # the config built at launch is what new pages and /info read
        for component in (getattr(self.demo, "config", None) or {}).get("components", []):
            if component.get("id") == dropdown._id:
                component.setdefault("props", {})["value"] = name

    def _forget_api_info(self) -> None:
        server = getattr(self.demo, "server_app", None)  # set by launch(); before it there is nothing cached
        if server is None:
            return
        server.api_info = None
        server.all_app_info = None
        server.page_api_info.clear()
