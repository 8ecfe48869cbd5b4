"""Image files: a file, a folder (searched recursively for image suffixes, hidden entries skipped) or a text list
(``.txt``/``.lst``/``.list``: one path per line, ``#`` comments, relative paths taken from the list's folder)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from experiments.sources.items import IMAGE_SUFFIXES, LIST_SUFFIXES, ImageItem, LoadedImage
from mae_core.evaluation.preprocess import ImageError, load_image
from mae_core.files import file_sha256


def file_items(spec: str) -> Iterable[ImageItem]:
    """The images a file, folder or list argument names; ``ValueError`` when it does not exist."""
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


def read_file(item: ImageItem) -> LoadedImage:
    """Decode an image file (size limits checked from the header before decoding) and hash its bytes."""
    try:
        image = load_image(item.path)
        sha256 = file_sha256(item.path)
    except ImageError:
        raise
    except OSError as err:
        raise ImageError(f"{item.name}: cannot read the file ({err.strerror or err})") from None
    return LoadedImage(item=item, sha256=sha256, image=image)
