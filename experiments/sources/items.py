"""The types every source shares: what to read (:class:`ImageItem`), the recorded rows of a dataset
(:class:`DatasetSource`), what was read (:class:`LoadedImage`), and why an image was skipped (:class:`ImageFailure`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".jpe", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pnm", ".jfif"}
)
LIST_SUFFIXES = frozenset({".txt", ".lst", ".list"})
HUB_PREFIX = "hf://datasets/"
KINDS = ("hub", "disk", "parquet", "imagefolder")  # the kinds of dataset an --images argument can name


@dataclass(frozen=True)
class DatasetSource:
    """The rows of one dataset that a run evaluates: recorded in the manifest, re-read exactly on resume."""

    kind: str  # one of KINDS
    id: str  # the Hub id, or the dataset's absolute path
    name: str  # NAME in the images' names
    revision: str | None  # Hub: the commit read; local: None
    split: str | None  # None: the dataset has no splits (a saved Dataset)
    column: str  # the image column
    num_rows: int  # rows in the split
    indices: tuple[int, ...]  # the rows evaluated, ascending

    def image_name(self, index: int) -> str:
        return f"{self.name}:{self.split}:{index}" if self.split is not None else f"{self.name}:{index}"

    @property
    def location(self) -> str:
        """Where to read it: ``hf://datasets/ID@COMMIT`` or the local path."""
        return f"{HUB_PREFIX}{self.id}@{self.revision}" if self.kind == "hub" else self.id

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "name": self.name,
            "revision": self.revision,
            "split": self.split,
            "column": self.column,
            "num_rows": self.num_rows,
            "indices": list(self.indices),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatasetSource:
        kind = str(data["kind"])
        if kind not in KINDS:
            raise ValueError(f"unknown dataset kind {kind!r} in the manifest; expected one of {', '.join(KINDS)}")
        return cls(
            kind=kind,
            id=str(data["id"]),
            name=str(data["name"]),
            revision=data.get("revision"),
            split=data.get("split"),
            column=str(data["column"]),
            num_rows=int(data["num_rows"]),
            indices=tuple(int(i) for i in data["indices"]),
        )


@dataclass(frozen=True)
class ImageItem:
    """One image to evaluate: its name in the store and where to read it."""

    name: str
    path: str  # absolute; for a dataset row, the dataset's location
    index: int | None = None  # the dataset row; None for an image file
    dataset: DatasetSource | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class LoadedImage:
    """An image read for the sweep."""

    item: ImageItem
    sha256: str  # of the file's bytes
    image: Image.Image  # upright 8-bit RGB
    data: bytes | None = field(default=None, repr=False)  # a dataset row: its encoded image; None for a file


@dataclass(frozen=True)
class ImageFailure:
    """Why an image was skipped; goes into the manifest's ``errors``."""

    image: str
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.image}: {self.reason}"

    def to_dict(self) -> dict[str, str]:
        return {"image": self.image, "path": self.path, "reason": self.reason}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ImageFailure:
        """A failure as the manifest stores it; other keys are ignored."""
        return cls(image=str(data["image"]), path=str(data.get("path", "")), reason=str(data.get("reason", "")))
