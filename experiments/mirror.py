"""A run store mirrored to a Hugging Face Hub dataset repository, so a Space's runs survive its restarts.

With ``MAE_RUNS_REPO=ORG/NAME`` set, :func:`start_mirror` first restores the repository's files into the store
(files the store already has are kept: they are at least as new as their mirror), then starts huggingface_hub's
``CommitScheduler``, which commits the store's new and changed files every ``MAE_RUNS_REPO_EVERY`` minutes (default
5) in a background thread, and once more when the process exits. The repository is created private when it does
not exist. Lock and temporary files (names starting with a dot) are never uploaded. The token is the user's
(``HF_TOKEN``: on a Space, a secret). Without ``MAE_RUNS_REPO`` nothing here runs: no thread, no request.

What a mirror can and cannot promise: a commit holds each file as it was when the scheduler listed the folder; a
``losses.csv`` caught mid-append ends in a torn line, which the store's readers ignore and its next writer cuts
off. Rows written after the last commit and before a crash (not a clean stop) are lost with the Space's disk.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mae_core.files import atomic_output

REPO_ENV = "MAE_RUNS_REPO"
EVERY_ENV = "MAE_RUNS_REPO_EVERY"
DEFAULT_EVERY_MINUTES = 5.0
IGNORE_PATTERNS = [".*", "*/.*"]  # the store's lock files and atomic writers' temporary files


@dataclass(frozen=True)
class MirrorConfig:
    """Where and how often to mirror."""

    repo_id: str
    every_minutes: float = DEFAULT_EVERY_MINUTES

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> MirrorConfig | None:
        """The mirror the environment asks for, or None when ``MAE_RUNS_REPO`` is unset or empty."""
        env = os.environ if environ is None else environ
        repo_id = (env.get(REPO_ENV) or "").strip()
        if not repo_id:
            return None
        from huggingface_hub.utils import validate_repo_id

        try:
            validate_repo_id(repo_id)
        except ValueError:
            raise ValueError(f"{REPO_ENV}={repo_id!r}: expected a Hub dataset id ORG/NAME") from None
        every_text = (env.get(EVERY_ENV) or "").strip()
        try:
            every = float(every_text) if every_text else DEFAULT_EVERY_MINUTES
        except ValueError:
            every = -1.0
        if not every > 0:
            raise ValueError(f"{EVERY_ENV}={every_text!r}: expected a positive number of minutes")
        return cls(repo_id=repo_id, every_minutes=every)


@dataclass(frozen=True)
class Restored:
    """What a restore did."""

    copied: tuple[str, ...]  # store-relative paths written from the mirror
    kept: tuple[str, ...]  # paths the store already had


class StoreMirror:
    """One store root mirrored to one Hub dataset repository."""

    def __init__(self, root: str | os.PathLike, config: MirrorConfig, *, api: Any = None) -> None:
        from huggingface_hub import HfApi

        self.root = Path(root).expanduser()
        self.config = config
        self.api = api if api is not None else HfApi()
        self.scheduler: Any = None
        self.restored: Restored | None = None
        self._state = "not started"
        self._lock = threading.Lock()

    def restore(self) -> Restored:
        """Copy the mirror's files the store lacks into it; a repository that does not exist yet restores nothing."""
        from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

        self.root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".mirror-", dir=self.root) as staging:
            try:
                self.api.snapshot_download(
                    repo_id=self.config.repo_id, repo_type="dataset", local_dir=staging, ignore_patterns=IGNORE_PATTERNS
                )
            except (RepositoryNotFoundError, RevisionNotFoundError):
                self.restored = Restored(copied=(), kept=())
            else:
                self.restored = _merge_into(Path(staging), self.root)
        return self.restored

    def start(self) -> None:
        """Commit the store in the background from now on (the repository is created private if missing)."""
        from huggingface_hub import CommitScheduler

        self.scheduler = CommitScheduler(
            repo_id=self.config.repo_id,
            repo_type="dataset",
            folder_path=self.root,
            every=self.config.every_minutes,
            private=True,
            ignore_patterns=IGNORE_PATTERNS,
            hf_api=self.api,
        )
        self._set_state("mirroring")

    def push_now(self) -> Any:
        """Commit what changed now and wait for it; returns the commit info (None when nothing changed)."""
        if self.scheduler is None:
            raise RuntimeError("the mirror is not started")
        return self.scheduler.trigger().result()

    def stop(self) -> None:
        """Push the last changes, then stop the background commits."""
        if self.scheduler is not None:
            self.push_now()
            self.scheduler.stop()
            self._set_state("stopped")

    def fail(self, reason: str) -> None:
        """Record why the mirror does not run (shown by :meth:`note`)."""
        self._set_state(f"failed: {reason}")

    def _set_state(self, state: str) -> None:
        with self._lock:
            self._state = state

    def note(self) -> str:
        """How the mirror stands, in words for the app's status line."""
        with self._lock:
            state = self._state
        if state == "mirroring":
            minutes = f"{self.config.every_minutes:g}"
            restored = f" ({len(self.restored.copied)} file(s) restored at start-up)" if self.restored else ""
            return f"Runs are mirrored to the Hub dataset {self.config.repo_id} every {minutes} min{restored}."
        if state.startswith("failed"):
            return f"Runs are NOT mirrored to {self.config.repo_id}: {state[len('failed: ') :]}"
        return f"Runs mirror to {self.config.repo_id}: {state}."


def _merge_into(source: Path, root: Path) -> Restored:
    copied, kept = [], []
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if not path.is_file() or any(part.startswith(".") for part in relative.parts):
            continue  # huggingface_hub's own .cache/ metadata, and anything hidden
        target = root / relative
        if target.exists():
            kept.append(relative.as_posix())
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(target) as staging:
            shutil.copyfile(path, staging)
        copied.append(relative.as_posix())
    return Restored(copied=tuple(copied), kept=tuple(kept))


def start_mirror(
    root: str | os.PathLike, environ: Mapping[str, str] | None = None, *, api: Any = None
) -> StoreMirror | None:
    """Restore and start mirroring ``root`` when ``MAE_RUNS_REPO`` is set; None (and nothing done) otherwise.

    A Hub that refuses or cannot be reached does not stop the caller: the mirror's :meth:`StoreMirror.note` says
    what went wrong, and the store works locally as without a mirror."""
    config = MirrorConfig.from_env(environ)
    if config is None:
        return None
    mirror = StoreMirror(root, config, api=api)
    try:
        mirror.restore()
        mirror.start()
    except Exception as err:  # the app must start even when the Hub does not answer; the note tells the user
        mirror.fail(f"{type(err).__name__}: {err}")
    return mirror
