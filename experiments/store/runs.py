"""The runs under one root: creating, opening, listing and loading them.

The root is ``--out``, else ``$MAE_RUNS_DIR``, else ``./runs``; each run is a folder (:mod:`experiments.store.run`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from experiments.config import SweepConfig
from experiments.manifest import Manifest
from experiments.store.csv_file import SkippedLine, empty_frame
from experiments.store.provenance import environment, utc_now
from experiments.store.run import MANIFEST_NAME, Run, new_run_id, read_manifest_file, write_manifest
from experiments.store.schema import SCHEMA_VERSION

RUNS_DIR_ENV = "MAE_RUNS_DIR"
DEFAULT_ROOT = "runs"
LATEST = "latest"  # stands for the newest run wherever a run id is asked for


def resolve_root(root: str | os.PathLike | None = None) -> Path:
    """The store root: the argument, else ``$MAE_RUNS_DIR``, else ``./runs``."""
    if root is None or str(root) == "":
        root = os.environ.get(RUNS_DIR_ENV) or DEFAULT_ROOT
    return Path(root).expanduser()


class RunStore:
    """The runs under one root."""

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = resolve_root(root)

    def __repr__(self) -> str:
        return f"RunStore({str(self.root)!r})"

    def create(self, config: SweepConfig | None = None, *, run_id: str | None = None, **fields: object) -> Run:
        """A new run folder with a ``running`` manifest holding ``config`` and ``fields`` (:class:`Manifest` fields
        such as ``checkpoints`` or ``images``)."""
        self.root.mkdir(parents=True, exist_ok=True)
        run_id = run_id or new_run_id()
        check_run_id(run_id)
        path = self.root / run_id
        path.mkdir()  # exclusive: an existing run is never reused by accident
        manifest = Manifest(
            run_id=run_id,
            schema_version=SCHEMA_VERSION,
            status="running",
            created=utc_now(),
            config=config,
            environment=environment(),
            **fields,
        )
        write_manifest(path / MANIFEST_NAME, manifest)
        return Run(path)

    def open(self, run_id: str) -> Run:
        check_run_id(run_id)
        run = Run(self.root / run_id)
        if not run.manifest_path.exists():
            known = ", ".join(m.run_id for m in self.list_runs()[-5:]) or "none"
            raise ValueError(f"no run {run_id!r} under {self.root} (latest runs: {known})")
        return run

    def latest(self) -> str:
        """The id of the newest run (by creation time); ``ValueError`` when the store holds none, or when a run's
        manifest cannot be read: that run may be the newest, and an older run is never taken in its place."""
        unreadable = self.unreadable_runs()
        if unreadable:
            more = f" (and {len(unreadable) - 1} more)" if len(unreadable) > 1 else ""
            raise ValueError(
                f"cannot tell which run is the latest: {unreadable[0][1]}{more}; repair or remove that run, or name "
                "a run id"
            )
        manifests = self.list_runs()
        if not manifests:
            raise ValueError(f"no runs under {self.root}: there is no latest run")
        return manifests[-1].run_id

    def resolve_ids(self, run_ids: Sequence[str]) -> list[str]:
        """``run_ids`` with ``latest`` replaced by the newest run's id, each checked to exist."""
        resolved = [self.latest() if run_id == LATEST else run_id for run_id in run_ids]
        for run_id in resolved:
            self.open(run_id)
        return resolved

    def list_runs(self) -> list[Manifest]:
        """Manifests of all runs, oldest first; runs whose manifest cannot be read are left out
        (:meth:`unreadable_runs` names them)."""
        manifests = []
        for path in self._run_folders():
            try:
                manifests.append(read_manifest_file(path / MANIFEST_NAME))
            except (OSError, ValueError):
                continue
        manifests.sort(key=lambda m: (m.created or "", m.run_id))
        return manifests

    def unreadable_runs(self) -> list[tuple[str, str]]:
        """``(run_id, reason)`` for each run folder whose manifest exists but cannot be read, by run id; the reason
        is one line naming the file and what is wrong."""
        found = []
        for path in self._run_folders():
            try:
                read_manifest_file(path / MANIFEST_NAME)
            except OSError as err:
                found.append((path.name, f"{path / MANIFEST_NAME}: cannot be read ({err.strerror or err})"))
            except ValueError as err:
                found.append((path.name, str(err)))
        return found

    def _run_folders(self) -> list[Path]:
        """The folders under the root holding a manifest (reports and hidden folders are not runs)."""
        if not self.root.is_dir():
            return []
        return [p for p in sorted(self.root.iterdir()) if not p.name.startswith(".") and (p / MANIFEST_NAME).is_file()]


def check_run_id(run_id: str) -> None:
    """Run ids are folder names: refuse anything that could point outside the root."""
    if not isinstance(run_id, str) or not run_id or run_id in (".", "..") or "/" in run_id or "\\" in run_id:
        raise ValueError(f"invalid run id {run_id!r}: expected a folder name such as 20250101-120000-abc123")
    if run_id.startswith("."):
        raise ValueError(f"invalid run id {run_id!r}: run ids do not start with a dot")


def list_runs(root: str | os.PathLike | None = None) -> list[Manifest]:
    """Manifests of all runs under ``root`` (default: ``$MAE_RUNS_DIR`` or ``./runs``), oldest first."""
    return RunStore(root).list_runs()


def load_runs(
    run_ids: str | Sequence[str], root: str | os.PathLike | None = None, *, skipped: list[SkippedLine] | None = None
) -> pd.DataFrame:
    """All rows of the chosen runs as one DataFrame (columns ``COLUMNS``); unmerged torchrun shards included. Lines
    that cannot be read are left out and added to ``skipped`` (see :func:`skipped_notes`)."""
    store = RunStore(root)
    if isinstance(run_ids, str):
        run_ids = [run_ids]
    frames = [store.open(run_id).read_rows(skipped=skipped) for run_id in run_ids]
    frames = [f for f in frames if len(f)]
    if not frames:
        return empty_frame()
    return pd.concat(frames, ignore_index=True)
