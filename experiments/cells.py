"""Which of its planned cells a run holds: the work a resume has left, and the count ``runs`` shows.

A run plans, for each image, one cell per checkpoint x mask x ratio x seed, measured with the run's crop and dtype.
A stored row holds its cell only when every part of the cell's identity is the planned one: a known image (and, once
the run knows it, that image's sha256), a planned checkpoint (with the sha256 the run recorded), mask, ratio and
seed, the run's crop and dtype. Counting rows per image would be fooled by a row overwritten by a copy of its
neighbour or by a garbled ratio or seed; counting cells is not. Each image's held cells are kept as one bit per
planned cell (a Python int), so memory grows with the images, not with the rows.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from experiments.config import SweepConfig, format_ratio
from experiments.manifest import Manifest
from experiments.store import CellKey, Run, SkippedLine

_READ = ("image", "image_sha256", "checkpoint", "checkpoint_sha256", "mask", "mask_ratio", "seed", "crop", "dtype")


@dataclass(frozen=True)
class CellTally:
    """The planned cells a run holds, per image."""

    grid: tuple[tuple[str, str, str, str], ...]  # (checkpoint, mask, ratio, seed) as the CSV holds them, by bit
    held: Mapping[str, int]  # image name as the CSV holds it -> bits of the grid cells stored
    skipped: tuple[SkippedLine, ...] = field(default=())  # lines of the run's files that could not be read
    cell_text: Callable[[str], str] = str  # a name as the run's CSV holds it (Run.cell_text)

    @property
    def per_image(self) -> int:
        return len(self.grid)

    def count(self, image: str) -> int:
        """Cells held for ``image`` (its name as the user gave it)."""
        return self.held.get(self.cell_text(image), 0).bit_count()

    def complete(self, image: str) -> bool:
        return self.count(image) == self.per_image

    @property
    def total(self) -> int:
        """Cells held over all images."""
        return sum(bits.bit_count() for bits in self.held.values())

    def keys(self, image: str) -> set[CellKey]:
        """The store keys (``Run.key``) of the cells held for ``image`` (its name as the user gave it)."""
        stored = self.cell_text(image)
        bits = self.held.get(stored, 0)
        return {(stored, *cell) for k, cell in enumerate(self.grid) if bits >> k & 1}


def tally_cells(
    run: Run,
    config: SweepConfig,
    images: Mapping[str, str | None],
    checkpoints: Mapping[str, str | None],
) -> CellTally:
    """The planned cells ``run`` holds. ``images`` maps each planned image name to its sha256 (None: not known yet,
    any row's hash is taken); ``checkpoints`` each checkpoint name to the sha256 the run recorded (None or empty:
    built in memory, not checked)."""
    text = run.cell_text
    grid = tuple(
        (text(c), text(m), format_ratio(r), str(int(s)))
        for c in config.checkpoints
        for m in config.masks
        for r in config.ratios
        for s in config.seeds
    )
    bit = {cell: k for k, cell in enumerate(grid)}
    image_sha = {text(name): sha or "" for name, sha in images.items()}
    checkpoint_sha = {text(name): sha or "" for name, sha in checkpoints.items()}
    crop, dtype = str(bool(config.crop)).lower(), config.dtype
    held: dict[str, int] = {}
    skipped: list[SkippedLine] = []
    for chunk in run.raw_rows(_READ, skipped=skipped):
        for image, image_hash, ckpt, ckpt_hash, mask, ratio, seed, row_crop, row_dtype in chunk.itertuples(
            index=False, name=None
        ):
            k = bit.get((ckpt, mask, _ratio(ratio), _seed(seed)))
            if (
                k is None
                or image not in image_sha
                or image_sha[image] not in ("", image_hash)
                or checkpoint_sha.get(ckpt) not in ("", ckpt_hash)
                or row_crop.lower() not in (crop, str(int(config.crop)))
                or row_dtype != dtype
            ):
                continue
            held[image] = held.get(image, 0) | 1 << k
    return CellTally(grid=grid, held=held, skipped=tuple(skipped), cell_text=text)


def readable_rows(run: Run) -> tuple[int, tuple[SkippedLine, ...]]:
    """Rows of ``run`` that can be read, for a run that records no plan (no config): the count ``runs`` shows."""
    skipped: list[SkippedLine] = []
    rows = sum(len(chunk) for chunk in run.raw_rows(("image",), skipped=skipped))
    return rows, tuple(skipped)


@functools.lru_cache(maxsize=4096)
def _ratio(text: str) -> str:
    """A stored ratio as :func:`format_ratio` writes it (``0.50`` and ``0.5`` are one cell)."""
    return format_ratio(float(text))


@functools.lru_cache(maxsize=4096)
def _seed(text: str) -> str:
    return str(int(text))


def stored_cells(run: Run, manifest: Manifest) -> tuple[int, tuple[SkippedLine, ...]]:
    """The planned cells ``run`` holds (readable, each once), or its readable rows when it records no plan; and the
    lines of its files that could not be read."""
    if manifest.config is None:
        return readable_rows(run)
    tally = tally_cells(
        run,
        manifest.config,
        {image.name: image.sha256 for image in manifest.images},
        {checkpoint.name: checkpoint.sha256 for checkpoint in manifest.checkpoints},
    )
    return tally.total, tally.skipped
