"""Expanding a sweep's ``--images`` into images, and reading each one with its own error.

An argument is an image file, a folder or a text list (:mod:`experiments.sources.files`), or a dataset
(:mod:`experiments.sources.specs` says which arguments are). Each image keeps the name the user gave it (the path as
written, ``folder/relative/path`` for folder members, the line for list entries, ``NAME:SPLIT:INDEX`` for dataset
rows): it is the ``image`` column of the run store.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from experiments.sources.files import file_items, read_file
from experiments.sources.items import IMAGE_SUFFIXES, ImageFailure, ImageItem, LoadedImage
from experiments.sources.opening import select_rows
from experiments.sources.reading import DatasetReaders, read_row, source_items
from experiments.sources.specs import DatasetOptions, dataset_spec
from mae_core.evaluation.preprocess import ImageError


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
    named = dataset_spec(spec)
    if named is not None:
        return source_items(select_rows(named, datasets or DatasetOptions()))
    return file_items(spec)


def read_image(item: ImageItem, readers: DatasetReaders | None = None) -> LoadedImage:
    """Decode one image (size limits checked from the header before decoding) and hash its encoded bytes.

    Dataset rows are read through ``readers`` (one is made for the call when None). Raises :class:`ImageError` with
    a readable reason."""
    return read_file(item) if item.dataset is None else read_row(item, readers)


def read_images(
    items: Iterable[ImageItem], readers: DatasetReaders | None = None
) -> tuple[list[LoadedImage], list[ImageFailure]]:
    """Read each image; an unreadable one becomes an :class:`ImageFailure` and the others go on. Pass the same
    ``readers`` to successive calls so that a streamed dataset is read forward once."""
    readers = readers if readers is not None else DatasetReaders()
    loaded, failed = [], []
    for item in items:
        try:
            loaded.append(read_image(item, readers))
        except ImageError as err:
            failed.append(ImageFailure(image=item.name, path=item.path, reason=str(err)))
    return loaded, failed
