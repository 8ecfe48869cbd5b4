"""What changes when the app runs on a Hugging Face Space: detection, a background prefetch, ZeroGPU, and text a
visitor reads without the server's paths and commands.

Nothing here blocks: the prefetch runs in a daemon thread and only records a note for the UI, so the first page
appears at once even while a 1.3 GB checkpoint downloads. ZeroGPU's ``spaces.GPU`` decorator is applied only where
the ``spaces`` package is importable; elsewhere handlers stay plain functions.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import threading
from collections.abc import Callable, Mapping
from typing import TypeVar

Handler = TypeVar("Handler", bound=Callable)
log = logging.getLogger("mae_app")


def on_space(environ: Mapping[str, str] | None = None) -> bool:
    """True on a Hugging Face Space (the platform sets ``SPACE_ID`` to ``owner/name``)."""
    return bool((os.environ if environ is None else environ).get("SPACE_ID"))


class Prefetch:
    """A download running in a background thread; :meth:`note` says how it stands, in words for the UI."""

    def __init__(self, label: str, fetch: Callable[[], object]) -> None:
        self.label = label
        self._fetch = fetch
        self._state = "running"
        self._error = ""
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, name=f"prefetch-{label}", daemon=True)

    def _run(self) -> None:
        try:
            self._fetch()
        except Exception as err:  # any failure becomes a note; the app keeps serving the other checkpoints
            with self._lock:
                self._state, self._error = "failed", f"{type(err).__name__}: {err}"
        else:
            with self._lock:
                self._state = "done"

    @property
    def state(self) -> str:
        """``running``, ``done`` or ``failed``."""
        with self._lock:
            return self._state

    def note(self) -> str:
        with self._lock:
            state, error = self._state, self._error
        if state == "running":
            return f"Fetching {self.label} in the background; it appears in the checkpoint list once cached."
        if state == "done":
            return f"{self.label} is cached."
        return f"Could not fetch {self.label} ({error}); the other checkpoints still work."


def start_prefetch(label: str, fetch: Callable[[], object]) -> Prefetch:
    """Start ``fetch()`` in a daemon thread and return its :class:`Prefetch` at once."""
    prefetch = Prefetch(label, fetch)
    prefetch.thread.start()
    return prefetch


def zerogpu_available() -> bool:
    """Whether the ``spaces`` package (ZeroGPU) can be imported; it is only installed on Spaces."""
    return importlib.util.find_spec("spaces") is not None


def gpu_handler(duration: int = 60) -> Callable[[Handler], Handler]:
    """Decorator: ``spaces.GPU(duration=...)`` where ZeroGPU is available, the function unchanged elsewhere."""
    if not zerogpu_available():
        return lambda handler: handler
    import spaces  # here, not at the top: the package exists only on Spaces (an optional dependency)

    return spaces.GPU(duration=duration)


# what a visitor of a Space never reads: the server's file paths and the command lines meant for its owner
_COMMAND = re.compile(r"`?\b(?:python3?|pip|\.venv/bin/\w+) -m [^`\n;,.]*`?|`python3? [^`\n]*`")
_PATH = re.compile(r"(?<![\w:/.])(?:~|/[\w.@+-]+)(?:/[\w.@+*-]+)+/?")


def for_visitor(text: str, environ: Mapping[str, str] | None = None) -> str:
    """``text`` as a visitor may read it: unchanged locally; on a Space with server paths and command lines replaced
    by words (the full text goes to the server log, where the Space's owner finds it)."""
    if not text or not on_space(environ):
        return text
    public = _PATH.sub("(a path on the server)", _COMMAND.sub("(a command on the server)", text))
    if public != text:
        log.info("shown to a visitor without paths and commands: %s", text)
    return public
