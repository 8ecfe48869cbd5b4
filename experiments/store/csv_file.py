"""The run store: one folder per run, a manifest and an append-only CSV of losses, safe without a server.

Layout under a root (``--out``, else ``$MAE_RUNS_DIR``, else ``./runs``)::

    <root>/<run_id>/manifest.json       the run's record (experiments.manifest), rewritten atomically
    <root>/<run_id>/losses.csv          one row per (image, checkpoint, mask, mask_ratio, seed)
    <root>/<run_id>/losses.rank<R>.csv  per-rank shards of a torchrun sweep until rank 0 merges them

Guarantees, and how they are kept:
- Rows are appended one batch per ``write`` under a file lock (``filelock``, an ``flock`` released by the kernel
  when its holder dies), then flushed and fsynced, so two writers never interleave.
- A writer killed mid-write leaves at worst a torn last line (no newline at the end). Readers ignore it and the next
  writer cuts it off before appending, so a store always loads. String cells are written by
  :mod:`experiments.csv_text`: never a raw newline (one row is exactly one line), never read as a spreadsheet
  formula, and reversible, so two different image names never share a cell and loaded names are the given ones.
- Schemas only append columns. A run records the ``schema_version`` it is written with (manifest) and its files keep
  that schema's header; runs of earlier schemas load with the values their missing columns had then
  (``crop`` from the run's config, ``mask`` ``random``, ``mask_hash`` empty, ``size`` 224) and resume in their own
  schema.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import os
import platform
import re
import socket
import subprocess
import sys
import uuid
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pandas as pd
from filelock import FileLock, Timeout

from experiments.config import DEFAULT_MASKS, SweepConfig, format_ratio
from experiments.csv_text import from_cell, legacy_cell, to_cell
from experiments.images import ImageFailure
from experiments.manifest import Manifest
from mae_core.files import atomic_output, atomic_write_text
from mae_core.options import OPTIONAL_METRICS

if TYPE_CHECKING:
    from mae_core.checkpoints.registry import LossType

RUNS_DIR_ENV = "MAE_RUNS_DIR"
DEFAULT_ROOT = "runs"
MANIFEST_NAME = "manifest.json"
LOSSES_NAME = "losses.csv"
SHARD_PATTERN = "losses.rank*.csv"
LATEST = "latest"  # stands for the newest run wherever a run id is asked for

LEGACY_COLUMNS = (  # schema 1, the store's first
    "run_id",
    "image",
    "image_sha256",
    "checkpoint",
    "checkpoint_sha256",
    "loss_type",
    "mask_ratio",
    "seed",
    "masked_patches",
    "loss",
    "mse",
    "psnr",
    "dtype",
    "device",
    "timestamp",
    # later columns are appended; a file written before them has a prefix of this header (see _header_columns)
    *OPTIONAL_METRICS,  # empty where a run did not compute them
)
# the columns of the first version of the store: every losses file has at least these
_FIRST_COLUMNS = LEGACY_COLUMNS[: LEGACY_COLUMNS.index("timestamp") + 1]
# schema 2: crop (bool), the mask strategy and the hash of the removed-patch bitmap
# (mae_core.modeling.masking.mask_hash)
SCHEMA_2_COLUMNS = (*LEGACY_COLUMNS, "crop", "mask", "mask_hash")
# schema 3: size, the side in pixels of the (square) input the model saw: its img_size
COLUMNS = (*SCHEMA_2_COLUMNS, "size")
SCHEMA_VERSION = 3  # what new runs are written with
SCHEMA_COLUMNS = {1: LEGACY_COLUMNS, 2: SCHEMA_2_COLUMNS, 3: COLUMNS}
LEGACY_SIZE = 224  # the input side of every run before ``size`` was recorded (all their models were 224 px)
# what a run of an earlier schema measured, for the columns it lacks (schema 1's crop comes from its config;
# metrics: not computed)
LEGACY_CELLS = {
    "crop": "False",
    "mask": DEFAULT_MASKS[0],
    "mask_hash": "",
    "size": str(LEGACY_SIZE),
    **dict.fromkeys(OPTIONAL_METRICS, ""),
}
# The identity of a cell: a run holds at most one row per key.
CELL_COLUMNS = ("image", "checkpoint", "mask", "mask_ratio", "seed")
# cells a complete row always has (a string cell such as checkpoint_sha256 may be empty)
_REQUIRED = ("image", "checkpoint", "mask_ratio", "seed", "masked_patches", "loss", "mse", "psnr")
_STRING_COLUMNS = (
    "run_id",
    "image",
    "image_sha256",
    "checkpoint",
    "checkpoint_sha256",
    "loss_type",
    "dtype",
    "device",
    "mask",
    "mask_hash",
)
_PACKAGES = ("torch", "timm", "numpy", "pandas", "pillow", "safetensors", "huggingface-hub", "filelock")

CellKey = tuple[str, str, str, str, str]  # CELL_COLUMNS as the CSV holds them


class RunBusyError(RuntimeError):
    """Another process is sweeping into this run right now."""


@dataclass(frozen=True)
class SkippedLine:
    """A line of a losses file that readers left out: malformed, or a cell that does not parse."""

    path: Path
    line: int  # 1-based, the header being line 1
    reason: str


def skipped_notes(skipped: Sequence[SkippedLine], shown: int = 5) -> list[str]:
    """One line per file: how many of its lines were left out, and which (the first ``shown`` with their reason)."""
    by_file: dict[Path, list[SkippedLine]] = {}
    for item in skipped:
        by_file.setdefault(item.path, []).append(item)
    notes = []
    for path, items in by_file.items():
        items = sorted(set(items), key=lambda i: i.line)
        listed = ", ".join(f"line {i.line} ({i.reason})" for i in items[:shown])
        more = f" and {len(items) - shown} more" if len(items) > shown else ""
        notes.append(f"{path}: {len(items)} unreadable line(s) left out: {listed}{more}")
    return notes


@dataclass(frozen=True)
class LossRow:
    """One measured cell: a checkpoint's losses on one image at one mask ratio and seed."""

    run_id: str
    image: str  # the image's name as the user gave it (path, folder/relative path or list entry)
    image_sha256: str
    checkpoint: str
    checkpoint_sha256: str
    loss_type: LossType | Literal["unknown"]
    mask_ratio: float
    seed: int
    masked_patches: int
    loss: float  # official loss, normalised space, removed patches
    mse: float  # [0, 1] RGB, removed patches
    psnr: float  # dB, from mse
    dtype: str
    device: str
    timestamp: str  # UTC, ISO 8601
    ssim: float | None = None  # the optional metrics (mae_core.evaluation.metrics); None: not computed, an empty cell
    lpips: float | None = None
    detail: float | None = None
    visible_loss: float | None = None
    crop: bool = False  # centre-cropped instead of squashed
    mask: str = "random"  # the mask strategy (mae_core.evaluation.engine.EvalRecord.mask)
    mask_hash: str = ""  # mae_core.modeling.masking.mask_hash of the removed patches: equal hashes, identical masks
    size: int = LEGACY_SIZE  # side in pixels of the square input the model saw (its img_size)

    def cells(self, text: Callable[[str], str] = to_cell) -> list[str]:
        """The CSV cells of this row in ``COLUMNS`` order, strings written by ``text`` (hot path: ~10 us per row);
        a file of an earlier schema takes the first ``len(SCHEMA_COLUMNS[schema])`` of them."""
        return [
            text(self.run_id),
            text(self.image),
            text(self.image_sha256),
            text(self.checkpoint),
            text(self.checkpoint_sha256),
            text(self.loss_type),
            format_ratio(self.mask_ratio),  # as in cell_key(), so a stored row and a planned cell compare equal
            str(int(self.seed)),
            str(int(self.masked_patches)),
            repr(float(self.loss)),  # round-trips exactly; inf/nan read back as floats
            repr(float(self.mse)),
            repr(float(self.psnr)),
            text(self.dtype),
            text(self.device),
            text(self.timestamp),
            *(
                "" if value is None else repr(float(value))
                for value in (self.ssim, self.lpips, self.detail, self.visible_loss)
            ),
            str(bool(self.crop)),
            text(self.mask),
            text(self.mask_hash),
            str(int(self.size)),
        ]

    def key(self, text: Callable[[str], str] = to_cell) -> CellKey:
        return cell_key(self.image, self.checkpoint, self.mask, self.mask_ratio, self.seed, text=text)


def cell_key(
    image: str,
    checkpoint: str,
    mask: str,
    mask_ratio: float | str,
    seed: int | str,
    *,
    text: Callable[[str], str] = to_cell,
) -> CellKey:
    """The cell identity as it reads in the CSV (strings written by ``text``, the run's), so planned cells and
    stored rows compare equal."""
    ratio = mask_ratio if isinstance(mask_ratio, str) else format_ratio(mask_ratio)
    return (text(image), text(checkpoint), text(mask), ratio, str(int(seed)))


def text_writer(schema: int) -> Callable[[str], str]:
    """How string cells are written in a file of ``schema``: reversibly from schema 2 on."""
    return legacy_cell if schema < 2 else to_cell


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def resolve_root(root: str | os.PathLike | None = None) -> Path:
    """The store root: the argument, else ``$MAE_RUNS_DIR``, else ``./runs``."""
    if root is None or str(root) == "":
        root = os.environ.get(RUNS_DIR_ENV) or DEFAULT_ROOT
    return Path(root).expanduser()


def environment() -> dict[str, object]:
    """Python, platform, package versions and the project's git commit, for the manifest."""
    packages = {}
    for name in _PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "argv": list(sys.argv),
        "packages": packages,
        "git_commit": _git_commit(Path(__file__).resolve().parent),
    }


def _git_commit(where: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and len(commit) == 40 else None


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
        if not cells:
            return 0
        target = Path(path) if path is not None else self.losses_path
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(cells)
        payload = buffer.getvalue().encode("utf-8")
        with FileLock(_lock_path(target)):
            _upgrade_header(target, self.columns)
            with open(target, "a+b") as f:
                _repair_tail(f)
                if f.tell() == 0:
                    f.write(_header_bytes(self.columns))
                f.write(payload)  # one write: a kill leaves a prefix of it, repaired by the next writer
                f.flush()
                if durable:
                    os.fsync(f.fileno())
        return len(cells)

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
            yield from _raw_chunks(path, usecols=usecols, legacy=self.legacy_cells(), skipped=skipped)

    def cell_counts(self, *, shards: bool = True) -> dict[str, int]:
        """Stored rows per image (the CSV's neutralised name), read in chunks: memory grows with the images, not
        with the rows. Exact once shards are merged (a merge killed midway can leave a cell in two files)."""
        counts: dict[str, int] = {}
        for path in self._row_files(shards):
            for chunk in _raw_chunks(path, usecols=("image",)):
                for image, n in chunk["image"].value_counts(sort=False).items():
                    counts[image] = counts.get(image, 0) + int(n)
        return counts

    def done_cells(self, images: set[str] | None = None, *, shards: bool = True) -> set[CellKey]:
        """Keys of the stored cells (shards included), optionally only for ``images`` (names as the CSV holds them,
        see :meth:`cell_text`)."""
        done: set[CellKey] = set()
        for path in self._row_files(shards):
            for chunk in _raw_chunks(path, usecols=CELL_COLUMNS):
                if images is not None:
                    chunk = chunk[chunk["image"].isin(images)]
                # the CSV reader removes the quoting but keeps the cell text: these equal cell_key() values
                done.update(chunk[list(CELL_COLUMNS)].itertuples(index=False, name=None))
        return done

    def image_hashes(self, images: set[str] | None = None) -> dict[str, str]:
        """The ``image_sha256`` stored for each image (neutralised name), optionally only for ``images``."""
        hashes: dict[str, str] = {}
        for path in self._row_files():
            for chunk in _raw_chunks(path, usecols=("image", "image_sha256")):
                if images is not None:
                    chunk = chunk[chunk["image"].isin(images)]
                pairs = chunk[["image", "image_sha256"]].drop_duplicates("image")
                hashes.update(zip(pairs["image"], pairs["image_sha256"], strict=True))
        return hashes

    def merge_shards(self) -> int:
        """Move shard rows that ``losses.csv`` lacks into it (by cell), then delete the shards.

        Safe to repeat after a crash at any point: rows are merged before their shard is removed, and a cell
        already in ``losses.csv`` is never written twice. Returns the rows added.
        """
        added = 0
        for shard in self.shard_paths():
            frame = pd.concat(list(_raw_chunks(shard)) or [_raw_empty()], ignore_index=True)
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
            _lock_path(shard).unlink(missing_ok=True)
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


def _lock_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.lock")


def _header_bytes(columns: Sequence[str] = COLUMNS) -> bytes:
    return (",".join(columns) + "\n").encode("utf-8")


def _header_columns(path: Path, first_line: bytes) -> tuple[str, ...]:
    """The columns a losses file's header names: a schema's (``SCHEMA_COLUMNS``) or, for a schema-1 file written
    before the optional metrics, a prefix of schema 1's holding at least the first version's columns. ``ValueError``
    for anything else."""
    text = first_line.rstrip(b"\r\n").decode("utf-8", "replace")
    names = tuple(text.split(","))
    if names in (COLUMNS, SCHEMA_2_COLUMNS):
        return names
    if len(names) >= len(_FIRST_COLUMNS) and names == LEGACY_COLUMNS[: len(names)]:
        return names
    raise ValueError(f"{path}: not a losses file of this store (header {text!r}, expected {','.join(COLUMNS)})")


def _upgrade_header(path: Path, columns: tuple[str, ...]) -> None:
    """Give a losses file written by an earlier version of its run's schema that schema's ``columns``, its rows
    padded with empty cells, atomically (called under the file's lock before appending, so old and new rows never
    share a file with two layouts)."""
    if not path.exists():
        return
    with open(path, "rb") as f:
        first = f.readline()
    if not first.endswith(b"\n") or first == _header_bytes(columns):  # new, torn (repaired by the append) or current
        return
    present = _header_columns(path, first)
    if present != columns[: len(present)]:
        raise ValueError(f"{path}: its header ({','.join(present)}) is not of its run's schema ({','.join(columns)})")
    with open(path, "rb") as f, atomic_output(path) as staging:
        size = _complete_size(f)
        f.seek(len(first))
        body = f.read(size - len(first)).decode("utf-8")
        with open(staging, "w", encoding="utf-8", newline="") as out:
            out.write(_header_bytes(columns).decode("utf-8"))
            writer = csv.writer(out, lineterminator="\n")
            padding = [""] * (len(columns) - len(present))
            writer.writerows(row + padding for row in csv.reader(io.StringIO(body)))


def _repair_tail(f) -> None:
    """Cut a torn last line (a killed writer's partial batch) so the file ends on a row boundary."""
    end = f.seek(0, os.SEEK_END)
    size = _complete_size(f)
    if size != end:
        f.truncate(size)
    f.seek(0, os.SEEK_END)


def empty_frame() -> pd.DataFrame:
    return _typed(pd.DataFrame({name: pd.Series([], dtype=object) for name in COLUMNS}))


def _typed(frame: pd.DataFrame, decode: bool = True) -> pd.DataFrame:
    """String cells decoded (``decode``: a file of schema 2 or later), numbers and booleans parsed."""
    for name in _STRING_COLUMNS:
        frame[name] = frame[name].astype(str)
        if decode:
            frame[name] = frame[name].map(from_cell)
    frame["crop"] = frame["crop"].astype(str).str.lower().isin(("true", "1"))
    for name in ("mask_ratio", "loss", "mse", "psnr", *OPTIONAL_METRICS):
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")  # empty cells: NaN
    for name in ("seed", "masked_patches"):
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("int64")
    frame["size"] = pd.to_numeric(frame["size"], errors="coerce").fillna(LEGACY_SIZE).astype("int64")
    return frame


def read_losses(
    path: str | os.PathLike, *, legacy: Mapping[str, str] = LEGACY_CELLS, skipped: list[SkippedLine] | None = None
) -> pd.DataFrame:
    """Rows of one losses CSV in ``COLUMNS``, typed, names decoded; a torn last line, malformed lines and rows with
    a cell that does not parse are left out, never fatal (the last two added to ``skipped``). A file of an earlier
    schema gets ``legacy`` values in the columns it lacks (and its names as they were written: that schema's
    encoding is not reversible)."""
    path = Path(path)
    chunks = list(_raw_chunks(path, usecols=COLUMNS, legacy=legacy, skipped=skipped))
    if not chunks:
        return empty_frame()
    frame = pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]
    return _typed(frame, decode=file_schema(path) >= 2)


def file_schema(path: Path) -> int:
    """The schema of a losses file, from its header (the newest for an empty or torn-header file)."""
    with open(path, "rb") as f:
        header = f.readline()
    if not header.endswith(b"\n"):
        return SCHEMA_VERSION
    columns = _header_columns(path, header)
    return next((v for v, c in SCHEMA_COLUMNS.items() if c == columns and v > 1), 1)


class _Bounded(io.RawIOBase):
    """A read-only view of the first ``size`` bytes of a binary file."""

    def __init__(self, f, size: int) -> None:
        self._f, self._left = f, size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._left <= 0:
            return 0
        n = self._f.readinto(memoryview(buffer)[: min(len(buffer), self._left)])
        self._left -= n or 0
        return n or 0


def _complete_size(f) -> int:
    """Bytes up to and including the last newline: a torn last line is left out."""
    end = f.seek(0, os.SEEK_END)
    pos = end
    while pos > 0:
        start = max(0, pos - 65536)
        f.seek(start)
        cut = f.read(pos - start).rfind(b"\n")
        if cut >= 0:
            return start + cut + 1
        pos = start
    return 0


def _raw_empty(usecols: Sequence[str] = COLUMNS) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series([], dtype=str) for name in usecols})


def _file_columns(f, path: Path) -> tuple[str, ...] | None:
    """The columns of the open losses file ``f`` by its header; None while the header is still torn."""
    header = f.readline()
    return _header_columns(path, header) if header.endswith(b"\n") else None


def _raw_chunks(
    path: Path,
    *,
    usecols: Sequence[str] | None = None,
    chunk_rows: int = 100_000,
    legacy: Mapping[str, str] = LEGACY_CELLS,
    skipped: list[SkippedLine] | None = None,
):
    """The complete, readable rows of a losses file as string DataFrames of at most ``chunk_rows`` rows, with
    ``usecols`` (default: the file's columns); columns an earlier schema lacks are filled from ``legacy``.

    Malformed lines (a wrong number of fields) and rows whose cells do not parse (``_invalid``) are left out; when the
    file has been read to its end, each is added to ``skipped`` with its line number."""
    with open(path, "rb") as f:
        size = _complete_size(f)
        f.seek(0)
        columns = _file_columns(f, path) if size else None
        if columns is None:
            return
        wanted = list(usecols) if usecols is not None else list(columns)
        f.seek(0)
        reader = pd.read_csv(
            io.BufferedReader(_Bounded(f, size)),
            dtype=str,
            keep_default_na=False,
            on_bad_lines="warn",  # a ParserWarning naming each line: collected below
            skip_blank_lines=False,  # a blank line is a row (left out as incomplete): row k stays line k + 2
            # every column, not usecols: with usecols the parser takes a line with extra fields without a word
            chunksize=chunk_rows,
            engine="c",
        )
        malformed: list[SkippedLine] = []
        unparsable: list[tuple[int, str]] = []  # (row number among the parsed rows, reason)
        parsed = 0
        with reader:
            while True:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", pd.errors.ParserWarning)
                    try:
                        chunk = next(reader)
                    except StopIteration:
                        chunk = None
                malformed += _malformed_lines(path, caught)
                if chunk is None:
                    break
                reasons = _invalid(chunk, decode=columns == COLUMNS)
                unparsable += [(parsed + int(k), reason) for k, reason in reasons.items()]
                parsed += len(chunk)
                chunk = chunk.drop(index=reasons.index).reset_index(drop=True)
                for name in wanted:  # columns the file's schema or version lacks: what such a run measured
                    if name not in chunk.columns:
                        chunk[name] = legacy[name]
                yield chunk[wanted]
        if skipped is not None:
            skipped += malformed + _line_numbers(path, unparsable, sorted(m.line for m in malformed))


_WHOLE = re.compile(r"^\d+$")
_BAD_LINE = re.compile(r"Skipping line (\d+): (.*)")


def _malformed_lines(path: Path, caught: Sequence[warnings.WarningMessage]) -> list[SkippedLine]:
    found = []
    for warning in caught:
        for line in str(warning.message).splitlines():
            match = _BAD_LINE.match(line.strip())
            if match:
                found.append(SkippedLine(path, int(match.group(1)), f"malformed: {match.group(2)}"))
    return found


def _line_numbers(path: Path, rows: Sequence[tuple[int, str]], malformed: Sequence[int]) -> list[SkippedLine]:
    """Parsed row ``k`` (0-based) is on line ``k + 2`` plus the malformed lines before it (``rows`` ascending)."""
    out, j = [], 0
    for k, reason in rows:
        while j < len(malformed) and malformed[j] <= k + 2 + j:
            j += 1
        out.append(SkippedLine(path, k + 2 + j, reason))
    return out


def _invalid(chunk: pd.DataFrame, *, decode: bool) -> pd.Series:
    """Why each row of a raw chunk cannot be trusted (index: the rows left out): a required cell empty (a short
    or blank line), a number, ratio, seed or crop that does not parse, a name the store cannot have written."""
    reason = pd.Series("", index=chunk.index, dtype=object)

    def flag(bad: pd.Series, why) -> None:
        bad = bad & (reason == "")
        if bad.any():
            reason[bad] = [why(v) for v in chunk.index[bad]]

    required = [c for c in _REQUIRED if c in chunk.columns]
    empty = chunk[required] == ""
    flag(empty.any(axis=1), lambda k: f"{empty.columns[empty.loc[k]][0]} is empty")
    for name in ("seed", "masked_patches"):
        flag(~chunk[name].str.match(_WHOLE), lambda k, n=name: f"{n} {chunk.at[k, n]!r} is not a whole number")
    ratio = pd.to_numeric(chunk["mask_ratio"], errors="coerce")
    flag(~((ratio > 0) & (ratio < 1)), lambda k: f"mask_ratio {chunk.at[k, 'mask_ratio']!r} is not a ratio in (0, 1)")
    for name in ("loss", "mse", "psnr", *(m for m in OPTIONAL_METRICS if m in chunk.columns)):
        cells = chunk[name]
        number = pd.to_numeric(cells, errors="coerce")
        flag(
            number.isna() & ~cells.str.lower().isin(("", "nan")),
            lambda k, n=name: f"{n} {chunk.at[k, n]!r} is not a number",
        )
    if "crop" in chunk.columns:
        flag(
            ~chunk["crop"].str.lower().isin(("true", "false", "1", "0")),
            lambda k: f"crop {chunk.at[k, 'crop']!r} is not True or False",
        )
    if "mask" in chunk.columns:
        flag(chunk["mask"] == "", lambda k: "mask is empty")
    if decode:
        for name in (c for c in _STRING_COLUMNS if c in chunk.columns):
            flag(
                ~chunk[name].map(_decodable), lambda k, n=name: f"{n} {chunk.at[k, n]!r} is not a cell the store writes"
            )
    return reason[reason != ""]


def _decodable(cell: str) -> bool:
    try:
        from_cell(cell)
    except ValueError:
        return False
    return True


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


def run_state(manifest: Manifest) -> str:
    """The manifest's status, except ``dead`` for a ``running`` run whose writer is gone: its process was on this
    host and is no longer alive (killed without a chance to record it). A dead run is resumable."""
    if manifest.status != "running":
        return manifest.status
    host, pid = manifest.environment.get("host"), manifest.environment.get("pid")
    if host != socket.gethostname() or not isinstance(pid, int):
        return manifest.status  # another machine's process, or no pid recorded: cannot tell
    return manifest.status if pid_alive(pid) else "dead"


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host (a zombie, killed but not yet reaped by its parent, does not)."""
    try:
        os.kill(pid, 0)  # signal 0: no signal sent, only the existence (and permission) check
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by someone else
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"  # the state follows the command name
    except (OSError, IndexError):
        return True  # no /proc (macOS): kill(0) is the answer


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
