"""The images a run was measured on, found again for a replay: the run's own copy, else the original file, checked.

A run records every image by name, path and sha256 (manifest ``images``, rows ``image_sha256``). Images that may
vanish (uploads to the app, whose files the server deletes after a while) are also copied into the run folder,
content-addressed and so stored once however many names share them::

    <run>/images/<sha256><suffix>

:func:`locate_image` prefers that copy; without one it reads the recorded path and refuses a file that is gone or
whose bytes changed since the run, saying which and what to do, so a replay never silently measures another image.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from experiments.store import Run
from mae_core.files import atomic_output, file_sha256

IMAGES_DIR = "images"


class ImageChangedError(ValueError):
    """A run's image cannot be found as it was measured: the file is gone or its bytes changed."""


@dataclass(frozen=True)
class RunImage:
    """An image of a run, found for reading."""

    name: str  # the image's name in the run (its ``image`` column)
    sha256: str  # what the run measured
    path: Path  # the file to read: the run's copy, or the original path when its bytes still match
    copy: bool  # True when ``path`` is the run's own copy


def images_folder(run: Run) -> Path:
    return run.path / IMAGES_DIR


def keep_image(run: Run, path: str | os.PathLike, sha256: str) -> Path:
    """Copy ``path`` (whose bytes hash to ``sha256``) into the run as ``images/<sha256><suffix>``, once.

    The copy appears atomically and is checked against ``sha256``; a copy already there is kept as it is."""
    existing = kept_copy(run, sha256)
    if existing is not None:
        return existing
    folder = images_folder(run)
    folder.mkdir(exist_ok=True)
    target = folder / f"{sha256}{Path(path).suffix.lower()}"
    with atomic_output(target) as staging:
        shutil.copyfile(path, staging)
        copied = file_sha256(staging)
        if copied != sha256:  # the file changed between the sweep's read and this copy
            raise ImageChangedError(
                f"{path} changed while it was being kept (sha256 {copied[:12]}..., expected {sha256[:12]}...)"
            )
    return target


def kept_copy(run: Run, sha256: str) -> Path | None:
    """The run's copy of the image with this content, if it keeps one."""
    if not sha256:
        return None
    folder = images_folder(run)
    if not folder.is_dir():
        return None
    return next((p for p in sorted(folder.glob(f"{sha256}*")) if p.is_file()), None)


def locate_image(run: Run, name: str, path: str | None, sha256: str) -> RunImage:
    """The file to read for image ``name`` of ``run``, recorded at ``path`` with ``sha256``.

    Raises :class:`ImageChangedError` naming the image, the run and what to do when neither the run's copy nor an
    unchanged original exists."""
    copy = kept_copy(run, sha256)
    if copy is not None:
        return RunImage(name=name, sha256=sha256, path=copy, copy=True)
    if not path or not Path(path).is_file():
        raise ImageChangedError(
            f"image {name!r} of run {run.run_id} is gone: {path or 'no path was recorded'} does not exist and the run "
            "keeps no copy of it; put the file back there to replay it"
        )
    current = file_sha256(path)
    if sha256 and current != sha256:
        raise ImageChangedError(
            f"image {name!r} of run {run.run_id} changed since it was measured: {path} now has sha256 "
            f"{current[:12]}..., the run measured {sha256[:12]}...; put the original back, or sweep the new file "
            "in a new run"
        )
    return RunImage(name=name, sha256=current, path=Path(path), copy=False)
