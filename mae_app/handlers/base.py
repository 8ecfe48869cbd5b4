"""The state every tab's handlers share: the model cache, the run store root, the examples, the default pair, and
the few lookups several tabs make (a checkpoint by name, the page's link, which runs a page may see)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from experiments.store import Run
from mae_core.checkpoints.model_cache import ModelCache
from mae_core.options import MASK_STRATEGIES, METRIC_NAMES

from .. import inputs, links, space
from ..availability import CheckpointAvailability
from ..background import Job
from ..drill import RunDrill
from ..visibility import RunVisibility

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"


@dataclass(frozen=True)
class RunningSweep:
    """A page's sweep in progress: its job and, once it exists, its run (``run_sweep``'s ``on_start``)."""

    job: Job
    runs: list[Run]


def example_files(folder: str | os.PathLike | None) -> dict[str, Path]:
    """The example images offered under the Compare tab, by name (file stem), in name order."""
    if folder is None or not Path(folder).is_dir():
        return {}
    return {path.stem: path for path in sorted(Path(folder).glob("*.jpg"))}


def session_key(request: gr.Request | None) -> str:
    """The page a request comes from (each page load is a new session); "" for direct calls."""
    return str(getattr(request, "session_hash", None) or "")


class AppState:
    """The app's state, shared by the handlers of every tab.

    ``models`` maps a checkpoint name to a loaded model; ``choices`` are the names offered in the UI and
    ``default_pair`` returns ``(a, b, note)`` for a new page; ``examples_dir`` holds the example images
    (``*.jpg``) that links name by file stem. Tests pass small random models here.
    """

    def __init__(
        self,
        models: ModelCache,
        *,
        choices: Callable[[], Sequence[str]],
        default_pair: Callable[[], tuple[str, str, str]],
        run_root: str | os.PathLike | None = None,
        download: Callable[[str], object] | None = None,
        examples_dir: str | os.PathLike | None = EXAMPLES_DIR,
    ) -> None:
        self.models = models
        self.choices = choices
        self.default_pair = default_pair
        self.run_root = run_root
        self.download = download
        self.examples: Mapping[str, Path] = example_files(examples_dir)
        self.notes: list[Callable[[], str]] = []  # extra status lines (e.g. a Space's background download)
        # called with (a, b) whenever the default pair changes (the API defaults follow it)
        self.pair_listeners: list[Callable[[str, str], object]] = []
        self._pair: tuple[str, str] | None = None
        self._pair_lock = threading.Lock()
        self._sweeps: dict[str, RunningSweep] = {}  # by the page's session
        self._sweeps_lock = threading.Lock()
        self.availability = CheckpointAvailability()  # on disk, downloadable, or neither: the dropdowns say which
        self.visibility = RunVisibility(self.examples)  # on a Space, upload runs are seen by their page only
        self.drill = RunDrill(self.model, run_root, self.check_runs)  # the Runs tab's drill-down and /replay

    def page_pair(self) -> tuple[str, str, str]:
        """The default pair now, as ``(a, b, note)``; listeners hear of every change. Called at start-up, on every
        page load and after every download: the pair a new page shows, decided when it is asked for."""
        a, b, note = self.default_pair()
        with self._pair_lock:
            changed, self._pair = self._pair != (a, b), (a, b)
            if changed:
                for listener in self.pair_listeners:
                    listener(a, b)
        return a, b, note

    def page_link(self, request: gr.Request | None) -> links.PageLink:
        """What the page's query parameters ask for (nothing without a request: an API call)."""
        query = getattr(request, "query_params", None) or {}
        choices = links.LinkChoices(
            examples=list(self.examples),
            checkpoints=list(self.choices()),
            masks=list(MASK_STRATEGIES),
            metrics=list(METRIC_NAMES),
            ratio_range=inputs.RATIO_RANGE,
        )
        return links.parse_link(query, choices)

    def model(self, name: str):
        """A checkpoint by name from the shared cache, loaded on first use; ``gr.Error`` when it cannot be."""
        if not name:
            raise gr.Error("Choose a checkpoint for both rows.")
        refusal = None if name in self.models else self.availability.refusal(name)
        if refusal:  # at once: a load would wait for the network, then fail with the download library's error
            raise gr.Error(refusal, title="Checkpoint unavailable")
        try:
            return self.models.get(name)
        except (ValueError, OSError, RuntimeError) as err:  # unknown name, missing weights, offline, bad file
            message = space.for_visitor(f"Could not load checkpoint {name!r}: {err}")
            raise gr.Error(message, title="Checkpoint unavailable") from None

    def loss_type(self, name: str) -> str:
        """The loss a loaded checkpoint was trained with, from its file ("unknown" when the file does not say)."""
        info = self.models.get(name).checkpoint_info
        return info.loss_type if info else "unknown"

    def check_runs(self, run_ids: Sequence[str], request: gr.Request | None = None) -> None:
        """``gr.Error`` when the page may not see one of the runs (on a Space: another page's upload run)."""
        self.visibility.check(run_ids, session_key(request), self.run_root)
