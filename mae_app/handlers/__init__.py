"""The app's handlers, one method per UI action, grouped as the tabs are (``mae_app.tabs``).

Handlers are plain methods of their inputs, so tests call them without a browser; they check input through
``inputs``, compute through ``mae_core`` / ``experiments`` and shape results through ``formatting``. Each module holds
one tab's handlers as a class over the shared :class:`~.base.AppState`; :class:`MAEApp` is all of them.
"""

from __future__ import annotations

from .base import EXAMPLES_DIR, AppState, RunningSweep, example_files, session_key
from .checkpoints import CheckpointHandlers
from .compare import CompareHandlers
from .draw import DrawHandlers
from .page import PageHandlers, PageStart
from .runs import RunsHandlers
from .study import study_plot
from .sweep import SweepHandlers


class MAEApp(PageHandlers, CompareHandlers, DrawHandlers, SweepHandlers, RunsHandlers, CheckpointHandlers):
    """The app's state (:class:`~.base.AppState`, built from the same arguments) and every tab's handlers."""


__all__ = [
    "EXAMPLES_DIR",
    "AppState",
    "MAEApp",
    "PageStart",
    "RunningSweep",
    "example_files",
    "session_key",
    "study_plot",
]
