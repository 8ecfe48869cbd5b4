"""Uploaded images as a sweep's input, named by their file names.

Gradio keeps each upload at ``<cache>/<hash>/<file name>``; swept as they are, the run would name every image by that
server path. Instead the uploads are linked into a fresh folder under their own file names (``photo.png``, a second
``photo.png`` as ``photo-2.png``) beside a list file naming them, and the sweep reads the list: a list entry's name
is the line as written (:mod:`experiments.images`), so the run's images are called ``photo.png`` and links, tables
and :func:`experiments.replay.replay` use those names.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .served_files import served_folder

LIST_NAME = "images.txt"
STAGING_FOLDER = "mae-sweeps"  # under gradio's served cache


def stage_uploads(paths: Sequence[str]) -> Path:
    """Link (or copy) ``paths`` into a new folder under distinct file names; returns the list file naming them."""
    root = served_folder(STAGING_FOLDER)
    root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=root))
    names: list[str] = []
    for path in paths:
        name = _free_name(Path(path).name, names)
        _link_or_copy(Path(path), folder / name)
        names.append(name)
    listing = folder / LIST_NAME
    # one name per line; the names are file names gradio already accepted, never containing a newline
    listing.write_text("".join(f"{name}\n" for name in names), encoding="utf-8")
    return listing


def _free_name(name: str, taken: Sequence[str]) -> str:
    """``name``, or ``stem-2.suffix``, ``stem-3.suffix``... when it is taken (case-insensitively); never the list's
    own name or a name the list format would read as a comment."""
    stem, suffix = os.path.splitext(name.strip() or "image")
    stem = stem.lstrip("#") or "image"
    candidate, number = f"{stem}{suffix}", 1
    lowered = {t.lower() for t in taken} | {LIST_NAME}
    while candidate.lower() in lowered:
        number += 1
        candidate = f"{stem}-{number}{suffix}"
    return candidate


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)  # same file system as gradio's cache: no copy
    except OSError:
        shutil.copyfile(source, target)


def is_staged_list(path: str) -> bool:
    """Whether ``path`` is a list file :func:`stage_uploads` wrote (``.../mae-sweeps/<folder>/images.txt``), where a
    run records that it was made from uploads (the cache folder may have moved since)."""
    parts = Path(path).parts
    return len(parts) >= 3 and parts[-1] == LIST_NAME and parts[-3] == STAGING_FOLDER
