"""Expanding a sweep's ``--images`` into images, and reading each one with its own error.

An argument is an image file, a folder (searched recursively for image suffixes, hidden entries skipped), a
text list (``.txt``/``.lst``/``.list``: one path per line, ``#`` comments, relative paths taken from the list's
folder), or a dataset (:mod:`experiments.datasets` says which arguments are). Each image keeps the name the user gave
it (the path as written, ``folder/relative/path`` for folder members, the line for list entries,
``NAME:SPLIT:INDEX`` for dataset rows): it is the ``image`` column of the run store.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from mae_core.evaluation.preprocess import ImageError, load_image
from mae_core.files import bytes_sha256, file_sha256

if TYPE_CHECKING:
    from experiments.sources import DatasetOptions, DatasetReaders, DatasetSource

IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".jpe", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pnm", ".jfif"}
)
LIST_SUFFIXES = frozenset({".txt", ".lst", ".list"})


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


def expand_images(specs: Sequence[str | os.PathLike], *, datasets: DatasetOptions | None = None) -> list[ImageItem]:
    """Images named by ``specs``, in order, each once. ``datasets`` chooses the rows of every dataset argument.

    ``ValueError`` for a path that does not exist, a list that cannot be read, a dataset that cannot be opened, dataset
    options without a dataset, or when nothing is found."""
    if isinstance(specs, (str, os.PathLike)):
        specs = [specs]
    items: list[ImageItem] = []
    seen: set[tuple[str, int | None]] = set()
    names: dict[str, str] = {}
    opened_dataset = False
    for spec in specs:
        for item in _expand_spec(str(spec), datasets):
            opened_dataset = opened_dataset or item.dataset is not None
            if (item.path, item.index) in seen:
                continue
            if item.name in names:
                # the name is the image's identity in the store: two files under one name would mix their rows
                raise ValueError(
                    f"--images: two images share the name {item.name!r} ({names[item.name]} and {item.path}); "
                    "pass them with distinct paths"
                )
            seen.add((item.path, item.index))
            names[item.name] = item.path
            items.append(item)
    if datasets is not None and datasets.given and not opened_dataset:
        raise ValueError(
            "--split, --image-column, --limit and --sample-seed choose rows of datasets, and none of --images is one "
            "(hf://datasets/ORG/NAME, a save_to_disk folder, Parquet files, an image folder with metadata.jsonl)"
        )
    if not items:
        shown = " ".join(str(s) for s in specs) or "(none)"
        raise ValueError(
            f"no images found in {shown}; expected image files ({', '.join(sorted(IMAGE_SUFFIXES))}), "
            "folders holding them, a .txt list of paths, or a dataset (hf://datasets/ORG/NAME, save_to_disk, Parquet)"
        )
    return items


def _expand_spec(spec: str, datasets: DatasetOptions | None) -> Iterable[ImageItem]:
    from experiments.sources import DatasetOptions, dataset_spec, select_rows, source_items

    named = dataset_spec(spec)
    if named is not None:
        return source_items(select_rows(named, datasets or DatasetOptions()))
    return _expand_one(spec, allow_list=True)


def _expand_one(spec: str, *, allow_list: bool, base: Path | None = None) -> Iterable[ImageItem]:
    path = Path(spec).expanduser()
    if base is not None and not path.is_absolute():
        path = base / path
    if path.is_dir():
        yield from _walk(path, spec)
    elif path.is_file() and allow_list and path.suffix.lower() in LIST_SUFFIXES:
        yield from _read_list(path)
    elif path.is_file() or base is not None:
        # a missing list entry stays an image: reading it reports "no such file" in the manifest, the rest go on
        yield ImageItem(name=spec, path=os.path.abspath(path))
    else:
        raise ValueError(f"--images: no such file or folder: {spec}")


def _walk(folder: Path, spec: str) -> Iterable[ImageItem]:
    prefix = spec.rstrip("/\\") or spec
    found = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for filename in filenames:
            if filename.startswith(".") or Path(filename).suffix.lower() not in IMAGE_SUFFIXES:
                continue
            full = Path(dirpath) / filename
            found.append((full.relative_to(folder).as_posix(), full))
    for relative, full in sorted(found):
        yield ImageItem(name=f"{prefix}/{relative}", path=os.path.abspath(full))


def _read_list(path: Path) -> Iterable[ImageItem]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"--images: cannot read the list {path} as UTF-8 text ({err})") from None
    for line in text.splitlines():
        entry = line.strip()
        if entry and not entry.startswith("#"):
            # lists do not nest: an entry ending in .txt is an (unreadable) image, not another list
            yield from _expand_one(entry, allow_list=False, base=path.parent)


def read_image(item: ImageItem, readers: DatasetReaders | None = None) -> LoadedImage:
    """Decode one image (size limits checked from the header before decoding) and hash its encoded bytes.

    Dataset rows are read through ``readers`` (one is made for the call when None). Raises :class:`ImageError` with
    a readable reason."""
    if item.dataset is not None:
        return _read_row(item, readers)
    try:
        image = load_image(item.path)
        sha256 = file_sha256(item.path)
    except ImageError:
        raise
    except OSError as err:
        raise ImageError(f"{item.name}: cannot read the file ({err.strerror or err})") from None
    return LoadedImage(item=item, sha256=sha256, image=image)


def _read_row(item: ImageItem, readers: DatasetReaders | None) -> LoadedImage:
    from experiments.sources import DatasetReaders

    assert item.dataset is not None and item.index is not None
    data = (readers or DatasetReaders()).read(item.dataset, item.index)
    try:
        image = load_image(data)
    except ImageError as err:
        raise ImageError(f"{item.name}: {err}") from None
    return LoadedImage(item=item, sha256=bytes_sha256(data), image=image, data=data)


def read_images(
    items: Iterable[ImageItem], readers: DatasetReaders | None = None
) -> tuple[list[LoadedImage], list[ImageFailure]]:
    """Read each image; an unreadable one becomes an :class:`ImageFailure` and the others go on. Pass the same
    ``readers`` to successive calls so that a streamed dataset is read forward once."""
    from experiments.sources import DatasetReaders

    readers = readers if readers is not None else DatasetReaders()
    loaded, failed = [], []
    for item in items:
        try:
            loaded.append(read_image(item, readers))
        except ImageError as err:
            failed.append(ImageFailure(image=item.name, path=item.path, reason=str(err)))
    return loaded, failed
