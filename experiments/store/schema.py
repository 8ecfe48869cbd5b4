"""The losses CSV's columns: one table (name, kind, the schema that added it, the value older runs had) from which
the row's cells, the typed read, the string columns and each schema's header are derived.

Schemas only append columns. A run records the ``schema_version`` it is written with (manifest) and its files keep
that schema's header; runs of earlier schemas load with the values their missing columns had then (:data:`LEGACY_CELLS`;
schema 1's ``crop`` comes from the run's config) and resume in their own schema.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from experiments.config import DEFAULT_MASKS, format_ratio
from experiments.csv_text import legacy_cell, to_cell
from mae_core.options import OPTIONAL_METRICS

if TYPE_CHECKING:
    from mae_core.checkpoints.registry import LossType

# what each schema version added to the CSV
SCHEMA_HISTORY = {
    1: "the first store: names, hashes, ratio, seed, losses, dtype, device, timestamp; then the optional metrics "
    "(a file written before them has a prefix of this header); names written by csv_text.legacy_cell",
    2: "crop, the mask strategy and mask_hash; names written reversibly by csv_text.to_cell",
    3: "size, the side in pixels of the square input the model saw (its img_size)",
    4: "spread, the image's mean spread over masks across all the run's seeds (sweep --metrics spread)",
}
SCHEMA_VERSION = max(SCHEMA_HISTORY)  # what new runs are written with
LEGACY_SIZE = 224  # the input side of every run before ``size`` was recorded (all their models were 224 px)

# text: a name (escaped by the run's csv_text rule); ratio: format_ratio; whole: an int; number: a float written
# with repr (round-trips exactly, inf/nan too); optional: a number or an empty cell (not computed); flag: a bool
Kind = Literal["text", "ratio", "whole", "number", "optional", "flag"]


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    since: int = 1  # the schema that added it
    required: bool = False  # a complete row never has it empty
    legacy: str | None = None  # the cell of a run whose schema lacks the column: what such a run measured


TABLE = (
    Column("run_id", "text"),
    Column("image", "text", required=True),  # the image's name as the user gave it
    Column("image_sha256", "text"),
    Column("checkpoint", "text", required=True),
    Column("checkpoint_sha256", "text"),
    Column("loss_type", "text"),
    Column("mask_ratio", "ratio", required=True),
    Column("seed", "whole", required=True),
    Column("masked_patches", "whole", required=True),
    Column("loss", "number", required=True),  # official loss, normalised space, removed patches
    Column("mse", "number", required=True),  # [0, 1] RGB, removed patches
    Column("psnr", "number", required=True),  # dB, from mse
    Column("dtype", "text"),
    Column("device", "text"),
    Column("timestamp", "text"),  # UTC, ISO 8601
    *(Column(name, "optional", legacy="") for name in OPTIONAL_METRICS),  # empty where a run did not compute them
    Column("crop", "flag", since=2, legacy="False"),  # centre-cropped instead of squashed
    Column("mask", "text", since=2, legacy=DEFAULT_MASKS[0]),
    Column("mask_hash", "text", since=2, legacy=""),  # mae_core.modeling.masking.mask_hash of the removed patches
    Column("size", "whole", since=3, legacy=str(LEGACY_SIZE)),
    # mae_core.evaluation.uncertainty.mean_spread of the image over ALL the run's seeds at the row's checkpoint, mask
    # and ratio (equal on each seed's row); empty where not computed, or with fewer than two seeds
    Column("spread", "optional", since=4, legacy=""),
)

SCHEMA_COLUMNS = {v: tuple(c.name for c in TABLE if c.since <= v) for v in SCHEMA_HISTORY}
COLUMNS = SCHEMA_COLUMNS[SCHEMA_VERSION]
LEGACY_COLUMNS = SCHEMA_COLUMNS[1]
SCHEMA_2_COLUMNS = SCHEMA_COLUMNS[2]
# every losses file has at least these: the columns of schema 1 before the optional metrics
FIRST_COLUMNS = LEGACY_COLUMNS[: LEGACY_COLUMNS.index("timestamp") + 1]
LEGACY_CELLS = {c.name: c.legacy for c in TABLE if c.legacy is not None}
REQUIRED = tuple(c.name for c in TABLE if c.required)
STRING_COLUMNS = tuple(c.name for c in TABLE if c.kind == "text")
# The identity of a cell: a run holds at most one row per key.
CELL_COLUMNS = ("image", "checkpoint", "mask", "mask_ratio", "seed")

CellKey = tuple[str, str, str, str, str]  # CELL_COLUMNS as the CSV holds them

_WRITERS: dict[Kind, Callable[[object, Callable[[str], str]], str]] = {
    "text": lambda value, text: text(value),
    "ratio": lambda value, text: format_ratio(value),  # as in cell_key(): a stored row and a planned cell are equal
    "whole": lambda value, text: str(int(value)),
    "number": lambda value, text: repr(float(value)),
    "optional": lambda value, text: "" if value is None else repr(float(value)),
    "flag": lambda value, text: str(bool(value)),
}
_CELL_WRITERS = tuple((c.name, _WRITERS[c.kind]) for c in TABLE)


def text_writer(schema: int) -> Callable[[str], str]:
    """How string cells are written in a file of ``schema``: reversibly from schema 2 on."""
    return legacy_cell if schema < 2 else to_cell


@dataclass(frozen=True)
class LossRow:
    """One measured cell: a checkpoint's losses on one image at one mask ratio and seed (fields: :data:`TABLE`)."""

    run_id: str
    image: str
    image_sha256: str
    checkpoint: str
    checkpoint_sha256: str
    loss_type: LossType | Literal["unknown"]
    mask_ratio: float
    seed: int
    masked_patches: int
    loss: float
    mse: float
    psnr: float
    dtype: str
    device: str
    timestamp: str
    ssim: float | None = None  # the optional metrics (mae_core.evaluation.metrics); None: not computed
    lpips: float | None = None
    detail: float | None = None
    visible_loss: float | None = None
    crop: bool = False
    mask: str = "random"  # the mask strategy (mae_core.evaluation.engine.EvalRecord.mask)
    mask_hash: str = ""  # equal hashes, identical masks
    size: int = LEGACY_SIZE
    spread: float | None = None  # the optional metric over the run's seeds (SEED_METRICS); None: not computed

    def cells(self, text: Callable[[str], str] = to_cell) -> list[str]:
        """The CSV cells of this row in ``COLUMNS`` order, strings written by ``text`` (hot path: ~10 us per row);
        a file of an earlier schema takes the first ``len(SCHEMA_COLUMNS[schema])`` of them."""
        return [write(getattr(self, name), text) for name, write in _CELL_WRITERS]

    def key(self, text: Callable[[str], str] = to_cell) -> CellKey:
        return cell_key(self.image, self.checkpoint, self.mask, self.mask_ratio, self.seed, text=text)


if tuple(f.name for f in dataclasses.fields(LossRow)) != COLUMNS:
    raise AssertionError("LossRow's fields are not the columns of TABLE, in order")


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
