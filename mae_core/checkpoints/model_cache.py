"""A process-wide cache of loaded models, shared by every user of a server and safe under threads.

Each checkpoint is loaded once, lazily, on first use. One lock per name means two requests for the same checkpoint
wait for a single load, while a request for another checkpoint does not wait behind it. A failed load is not
cached: the next request tries again (a download may succeed later).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

Model = TypeVar("Model")


class ModelCache(Generic[Model]):
    """``cache.get(name)`` returns ``loader(name)``, calling the loader at most once per name that succeeded."""

    def __init__(self, loader: Callable[[str], Model]) -> None:
        self._loader = loader
        self._models: dict[str, Model] = {}
        self._name_locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()  # protects the two dicts, never held while loading

    def get(self, name: str) -> Model:
        model = self._models.get(name)
        if model is not None:
            return model
        with self._guard:
            lock = self._name_locks.setdefault(name, threading.Lock())
        with lock:
            model = self._models.get(name)
            if model is None:  # the first caller loads; the others find it here after waiting on the lock
                model = self._loader(name)
                with self._guard:
                    self._models[name] = model
        return model

    def loaded(self) -> tuple[str, ...]:
        """Names loaded so far, in load order."""
        with self._guard:
            return tuple(self._models)

    def __contains__(self, name: object) -> bool:
        return name in self._models

    def clear(self) -> None:
        """Forget every loaded model (they are freed once no request still holds them)."""
        with self._guard:
            self._models.clear()
