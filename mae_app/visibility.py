"""Who sees which runs of the store: everyone sees every run locally; on a Hugging Face Space, a run made from a
visitor's uploads is seen only by the page (browser session) that made it.

On a Space the Runs tab, the drill-down and ``/replay`` show a run when it was made from the example photos only
(public: nothing of a visitor's is in it), or when it was not made from uploads at all (a study the Space's owner
put in the store, e.g. restored by ``MAE_RUNS_REPO``), or when this page made it. The owner of a run is the page's
session, kept in memory: after a restart, or in another tab, a visitor's upload run is seen by no one (it stays in
the store; docs/app.md says what is stored, where and for how long).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import gradio as gr

from experiments.manifest import Manifest
from experiments.store import list_runs
from mae_core.files import file_sha256

from . import space
from .uploads import is_staged_list


class RunVisibility:
    """Which runs a page may see. ``private()`` says whether uploads are private (default: on a Space);
    ``examples`` are the public example photos, by name."""

    def __init__(self, examples: Mapping[str, Path], private: Callable[[], bool] = space.on_space) -> None:
        self.private = private
        self._examples = examples
        self._example_hashes: frozenset[str] | None = None
        self._owners: dict[str, str] = {}  # run id -> the session (page) that made it
        self._lock = threading.Lock()

    def claim(self, run_id: str, session: str) -> None:
        """``session`` made the run ``run_id`` (called as the sweep starts it)."""
        with self._lock:
            self._owners[run_id] = session

    def visible(self, manifest: Manifest, session: str) -> bool:
        if not self.private() or self._only_examples(manifest):
            return True
        with self._lock:
            owner = self._owners.get(manifest.run_id)
        if owner is not None:
            return owner == session
        return not _from_uploads(manifest)

    def runs(self, manifests: Iterable[Manifest], session: str) -> list[Manifest]:
        """The manifests ``session`` may see, in their order."""
        return [m for m in manifests if self.visible(m, session)]

    def check(self, run_ids: Sequence[str], session: str, root) -> None:
        """``gr.Error`` naming the runs of ``run_ids`` that ``session`` may not see, worded as for runs that do not
        exist (a visitor learns nothing of other visitors' runs). Nothing to check locally."""
        if not self.private():
            return
        seen = {m.run_id for m in self.runs(list_runs(root), session)}
        hidden = [str(r) for r in run_ids if r not in seen]
        if hidden:
            raise gr.Error(
                f"No run {', '.join(hidden)} here: this page sees the example runs and the runs it made itself.",
                title="Unknown run",
            )

    def _only_examples(self, manifest: Manifest) -> bool:
        """Every image of the run is one of the example photos (by content)."""
        hashes = [image.sha256 for image in manifest.images]
        return bool(hashes) and all(h is not None and h in self._public_hashes() for h in hashes)

    def _public_hashes(self) -> frozenset[str]:
        if self._example_hashes is None:
            self._example_hashes = frozenset(file_sha256(path) for path in self._examples.values())
        return self._example_hashes


def _from_uploads(manifest: Manifest) -> bool:
    """Whether the app made the run from uploads: its images are a staged upload list (see :mod:`.uploads`)."""
    config = manifest.config
    return config is None or any(is_staged_list(path) for path in config.images)
