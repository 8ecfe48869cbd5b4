"""One run folder: its manifest, its losses file and shards, and the names as its CSV holds them.

    <root>/<run_id>/manifest.json       the run's record (experiments.manifest), rewritten atomically
    <root>/<run_id>/losses.csv          one row per (image, checkpoint, mask, mask_ratio, seed)
    <root>/<run_id>/losses.rank<R>.csv  per-rank shards of a torchrun sweep until rank 0 merges them

Callers pass and receive names as the user gave them; the run translates them to its schema's cell text
(:func:`experiments.store.schema.text_writer`) where it compares them with stored cells.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from filelock import FileLock, Timeout

from experiments.manifest import Manifest
from experiments.store.csv_file import (
    SkippedLine,
    append_cells,
    empty_frame,
    lock_path,
    raw_chunks,
    raw_empty,
    read_losses,
)
from experiments.store.schema import (
    CELL_COLUMNS,
    LEGACY_CELLS,
    SCHEMA_COLUMNS,
    SCHEMA_VERSION,
    CellKey,
    LossRow,
    text_writer,
)
from mae_core.files import atomic_write_text

if TYPE_CHECKING:
    from experiments.sources import ImageFailure

MANIFEST_NAME = "manifest.json"
LOSSES_NAME = "losses.csv"
SHARD_PATTERN = "losses.rank*.csv"


class RunBusyError(RuntimeError):
    """Another process is sweeping into this run right now."""


def write_manifest(path: Path, manifest: Manifest) -> None:
    """Write ``manifest`` so that readers see the old file or the new one, never a mix, even after a crash."""
    atomic_write_text(path, manifest.to_json())


def read_manifest_file(path: Path) -> Manifest:
    """The manifest at ``path``; ``ValueError`` as one line naming the file and what is wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text ({err.reason})") from None
    try:
        return Manifest.from_json(text)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


def new_run_id() -> str:
    """``YYYYmmdd-HHMMSS-xxxxxx``: sortable by creation time, unique across processes and machines."""
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


class Run:
    """A handle on one run folder. Cheap to create; every method re-reads the files it needs."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.run_id = self.path.name

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST_NAME

    @property
    def losses_path(self) -> Path:
        return self.path / LOSSES_NAME

    def shard_path(self, rank: int) -> Path:
        return self.path / f"losses.rank{int(rank)}.csv"

    def shard_paths(self) -> list[Path]:
        return sorted(self.path.glob(SHARD_PATTERN))

    # ---- the run's schema: fixed when it is created ----
    @functools.cached_property
    def schema(self) -> int:
        return self.read_manifest().schema_version

    @property
    def columns(self) -> tuple[str, ...]:
        if self.schema not in SCHEMA_COLUMNS:
            raise ValueError(
                f"run {self.run_id} is written in store schema {self.schema}; this version knows up to "
                f"{SCHEMA_VERSION}: update the project to read it"
            )
        return SCHEMA_COLUMNS[self.schema]

    def cell_text(self, text: str) -> str:
        """``text`` as this run's CSV holds it (compare planned names with stored ones through this)."""
        return text_writer(self.schema)(text)

    def row_text(self, text: str) -> str:
        """``text`` as this run's loaded rows (:meth:`read_rows`) hold it: decoded from schema 2 on, as written
        before (that schema's encoding cannot be undone)."""
        return self.cell_text(text) if self.schema < 2 else text

    def legacy_cells(self) -> Mapping[str, str]:
        """Values of the columns this run's schema lacks: what it measured (its crop is in its config)."""
        if self.schema >= SCHEMA_VERSION:
            return LEGACY_CELLS
        config = self.read_manifest().config
        return {**LEGACY_CELLS, "crop": str(bool(config and config.crop))}

    # ---- manifest ----
    def read_manifest(self) -> Manifest:
        """The run's manifest; ``ValueError`` naming the file and what is wrong with it when it cannot be read."""
        return read_manifest_file(self.manifest_path)

    def update_manifest(self, **changes: object) -> Manifest:
        """Read-modify-write the manifest under its lock (``changes`` name :class:`Manifest` fields); returns it."""
        with FileLock(self.path / ".manifest.lock"):
            manifest = dataclasses.replace(self.read_manifest(), **changes)
            write_manifest(self.manifest_path, manifest)
        return manifest

    def add_errors(self, errors: Sequence[ImageFailure]) -> None:
        if not errors:
            return
        with FileLock(self.path / ".manifest.lock"):
            manifest = self.read_manifest()
            # a resume retries failed images: the same failure is recorded once
            fresh = tuple(dict.fromkeys(e for e in errors if e not in manifest.errors))
            if fresh:
                write_manifest(self.manifest_path, dataclasses.replace(manifest, errors=manifest.errors + fresh))

    # ---- rows ----
    def append_rows(self, rows: Iterable[LossRow], *, path: Path | None = None, durable: bool = True) -> int:
        """Append ``rows`` as one locked write (header first if the file is new); returns the rows written.

        ``path`` selects a shard file (torchrun ranks); ``durable`` fsyncs before the lock is released.
        """
        text, width = text_writer(self.schema), len(self.columns)
        return self._append_cells([row.cells(text)[:width] for row in rows], path=path, durable=durable)

    def _append_cells(self, cells: Sequence[Sequence[str]], *, path: Path | None, durable: bool = True) -> int:
        target = Path(path) if path is not None else self.losses_path
        return append_cells(target, cells, self.columns, durable=durable)

    def read_rows(self, *, shards: bool = True, skipped: list[SkippedLine] | None = None) -> pd.DataFrame:
        """All complete, readable rows of this run (its shards too, unless ``shards=False``), typed; the lines left
        out are added to ``skipped``."""
        paths = [self.losses_path] + (self.shard_paths() if shards else [])
        frames = [read_losses(p, legacy=self.legacy_cells(), skipped=skipped) for p in paths if p.exists()]
        frames = [f for f in frames if len(f)]
        if not frames:
            return empty_frame()
        if len(frames) == 1:
            return frames[0]
        # a merge killed midway leaves some cells in both losses.csv and a shard: keep one copy
        merged = pd.concat(frames, ignore_index=True)
        return merged.drop_duplicates(subset=list(CELL_COLUMNS), keep="first").reset_index(drop=True)

    def _row_files(self, shards: bool = True) -> list[Path]:
        paths = [self.losses_path, *(self.shard_paths() if shards else [])]
        return [p for p in paths if p.exists()]

    def raw_rows(self, usecols: Sequence[str], *, skipped: list[SkippedLine] | None = None):
        """The readable rows of this run's files (shards included) as string DataFrames with ``usecols``, the cells as
        the CSV holds them (see :meth:`cell_text`), read in chunks; the lines left out are added to ``skipped``."""
        for path in self._row_files():
            yield from raw_chunks(path, usecols=usecols, legacy=self.legacy_cells(), skipped=skipped)

    def cell_counts(self, *, shards: bool = True) -> dict[str, int]:
        """Stored rows per image (the CSV's neutralised name), read in chunks: memory grows with the images, not
        with the rows. Exact once shards are merged (a merge killed midway can leave a cell in two files)."""
        counts: dict[str, int] = {}
        for path in self._row_files(shards):
            for chunk in raw_chunks(path, usecols=("image",)):
                for image, n in chunk["image"].value_counts(sort=False).items():
                    counts[image] = counts.get(image, 0) + int(n)
        return counts

    def done_cells(self, images: set[str] | None = None, *, shards: bool = True) -> set[CellKey]:
        """Keys of the stored cells (shards included), optionally only for ``images`` (names as the CSV holds them,
        see :meth:`cell_text`)."""
        done: set[CellKey] = set()
        for path in self._row_files(shards):
            for chunk in raw_chunks(path, usecols=CELL_COLUMNS):
                if images is not None:
                    chunk = chunk[chunk["image"].isin(images)]
                # the CSV reader removes the quoting but keeps the cell text: these equal cell_key() values
                done.update(chunk[list(CELL_COLUMNS)].itertuples(index=False, name=None))
        return done

    def image_hashes(self, images: Iterable[str]) -> dict[str, str]:
        """The ``image_sha256`` stored for each of ``images`` (names as the user gave them) that has a row."""
        by_cell = {self.cell_text(name): name for name in images}
        hashes: dict[str, str] = {}
        for path in self._row_files():
            for chunk in raw_chunks(path, usecols=("image", "image_sha256")):
                chunk = chunk[chunk["image"].isin(by_cell)]
                pairs = chunk[["image", "image_sha256"]].drop_duplicates("image")
                pairs = zip(pairs["image"], pairs["image_sha256"], strict=True)
                hashes.update((by_cell[cell], sha256) for cell, sha256 in pairs)
        return hashes

    def key(self, row: LossRow) -> CellKey:
        """The key of ``row``'s cell as this run stores it (compare with :meth:`done_cells`)."""
        return row.key(text_writer(self.schema))

    def loaded_names(self, names: Iterable[str]) -> dict[str, str]:
        """Each of ``names`` (as the user gave them) keyed by the name this run's loaded rows hold for it: the same
        from schema 2 on; a run of schema 1 holds names as that schema wrote them (not reversible)."""
        return {self.row_text(name): name for name in names}

    def named(self, rows: pd.DataFrame, **names: str) -> pd.DataFrame:
        """The rows of ``rows`` (loaded by :meth:`read_rows`) whose string columns hold the given names (as the user
        gave them; a run of schema 1 holds them as that schema wrote them)."""
        keep = pd.Series(True, index=rows.index)
        for column, name in names.items():
            keep &= rows[column] == self.row_text(name)
        return rows[keep]

    def merge_shards(self) -> int:
        """Move shard rows that ``losses.csv`` lacks into it (by cell), then delete the shards.

        Safe to repeat after a crash at any point: rows are merged before their shard is removed, and a cell
        already in ``losses.csv`` is never written twice. Returns the rows added.
        """
        added = 0
        for shard in self.shard_paths():
            frame = pd.concat(list(raw_chunks(shard)) or [raw_empty()], ignore_index=True)
            # only this shard's images can collide: the look-up stays as small as the shard
            existing = self.done_cells(set(frame["image"]), shards=False) if len(frame) else set()
            fresh = []
            keys = frame[list(CELL_COLUMNS)].itertuples(index=False, name=None)
            # shard cells are already the run's cell text: copy them as they are, in the run's columns
            for key, cells in zip(keys, frame[list(self.columns)].itertuples(index=False, name=None), strict=True):
                if key not in existing:
                    existing.add(key)
                    fresh.append(cells)
            added += self._append_cells(fresh, path=None)
            shard.unlink()
            lock_path(shard).unlink(missing_ok=True)
        return added

    def acquire_writer(self) -> FileLock:
        """Hold this lock while sweeping into the run: a second sweep of the same run fails instead of duplicating.

        The kernel drops it when the holder dies, so a killed sweep can be resumed at once.
        """
        lock = FileLock(self.path / ".writer.lock", timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise RunBusyError(f"run {self.run_id} is being written by another process right now") from None
        return lock
