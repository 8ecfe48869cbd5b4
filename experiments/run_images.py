"""The images a run was measured on, found again for a replay: the run's own copy, else the original, checked.

A run records every image by name and sha256 (manifest ``images``, rows ``image_sha256``), and where it was read: a
file's path, or a dataset row's position (its dataset's source, split and pinned revision in the manifest's
``datasets``, and the row's index). Images that may vanish (uploads to the app, whose files the server deletes after a
while; any image of a ``--keep-images`` sweep, dataset rows included) are also copied into the run folder,
content-addressed and so stored once however many names share them::

    <run>/images/<sha256><suffix>

:func:`locate_image` prefers that copy; without one it reads the recorded file or dataset row and refuses one that
is gone or whose bytes changed since the run (a dataset row is checked by its image's sha256, never by its dataset
file's), saying which and what to do, so a replay never silently measures another image.
"""

from __future__ import annotations

import io
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from experiments.manifest import Manifest
from experiments.sources import DatasetReaders, DatasetSource
from experiments.store import Run
from mae_core.evaluation.preprocess import ImageError, load_image
from mae_core.files import atomic_output, atomic_write_bytes, bytes_sha256, file_sha256

IMAGES_DIR = "images"


class ImageChangedError(ValueError):
    """A run's image cannot be found as it was measured: the file is gone or its bytes changed."""


@dataclass(frozen=True)
class RunImage:
    """An image of a run, found for reading."""

    name: str  # the image's name in the run (its ``image`` column)
    sha256: str  # what the run measured
    path: Path  # the file to read: the run's copy, the original file, or (a dataset row) its dataset's location
    copy: bool  # True when ``path`` is the run's own copy
    data: bytes | None = None  # a dataset row read from its dataset: its encoded image (``path`` is not the image)

    def load(self) -> Image.Image:
        """The image, decoded (upright 8-bit RGB)."""
        return load_image(self.data if self.data is not None else self.path)


def images_folder(run: Run) -> Path:
    return run.path / IMAGES_DIR


def keep_image(run: Run, path: str | os.PathLike, sha256: str) -> Path:
    """Copy ``path`` (whose bytes hash to ``sha256``) into the run as ``images/<sha256><suffix>``, once.

    The copy appears atomically and is checked against ``sha256``; a copy already there is kept as it is."""
    existing = kept_copy(run, sha256)
    if existing is not None:
        return existing
    target = _copy_path(run, sha256, Path(path).suffix.lower())
    with atomic_output(target) as staging:
        shutil.copyfile(path, staging)
        copied = file_sha256(staging)
        if copied != sha256:  # the file changed between the sweep's read and this copy
            raise ImageChangedError(
                f"{path} changed while it was being kept (sha256 {copied[:12]}..., expected {sha256[:12]}...)"
            )
    return target


def keep_image_bytes(run: Run, data: bytes, sha256: str) -> Path:
    """Keep the encoded image ``data`` (a dataset row's, hashing to ``sha256``) in the run as
    ``images/<sha256><suffix>`` (the suffix of its format), once, atomically."""
    existing = kept_copy(run, sha256)
    if existing is not None:
        return existing
    if bytes_sha256(data) != sha256:  # an internal invariant: the sweep hashed these very bytes
        raise ImageChangedError(f"the bytes to keep do not hash to {sha256[:12]}...")
    return atomic_write_bytes(_copy_path(run, sha256, _suffix(data)), data)


def _copy_path(run: Run, sha256: str, suffix: str) -> Path:
    folder = images_folder(run)
    folder.mkdir(exist_ok=True)
    return folder / f"{sha256}{suffix}"


def _suffix(data: bytes) -> str:
    """The usual file suffix of the image format ``data`` is encoded in (``.png``, ``.jpg``...), else none."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind = image.format
    except (OSError, ValueError):
        return ""
    if kind in _SUFFIXES:
        return _SUFFIXES[kind]
    return next((ext for ext, fmt in sorted(Image.registered_extensions().items()) if fmt == kind), "")


_SUFFIXES = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "GIF": ".gif", "BMP": ".bmp", "TIFF": ".tif"}


def kept_copy(run: Run, sha256: str) -> Path | None:
    """The run's copy of the image with this content, if it keeps one."""
    if not sha256:
        return None
    folder = images_folder(run)
    if not folder.is_dir():
        return None
    return next((p for p in sorted(folder.glob(f"{sha256}*")) if p.is_file()), None)


def find_image(run: Run, manifest: Manifest, name: str, sha256: str) -> RunImage:
    """Image ``name`` of ``run`` as the run measured it (``sha256``): the run's copy, else its recorded file
    (:func:`locate_image`) or dataset row (:func:`locate_row`), checked."""
    record = next((i for i in manifest.images if i.name == name), None)
    if record is not None and record.dataset is not None and record.index is not None:
        if kept_copy(run, sha256) is None and record.dataset < len(manifest.datasets):
            return locate_row(run, name, manifest.datasets[record.dataset], record.index, sha256)
    return locate_image(run, name, record.path if record else None, sha256)


def locate_row(run: Run, name: str, source: DatasetSource, index: int, sha256: str) -> RunImage:
    """Row ``index`` of the dataset ``source`` (read at its pinned revision), refused with
    :class:`ImageChangedError` when it cannot be read or its image no longer hashes to ``sha256``."""
    copy = kept_copy(run, sha256)
    if copy is not None:
        return RunImage(name=name, sha256=sha256, path=copy, copy=True)
    where = f"row {index} of dataset {source.location}" + (f" (split {source.split})" if source.split else "")
    try:
        data = DatasetReaders().read(source, index)
    except (ImageError, ValueError) as err:
        raise ImageChangedError(
            f"image {name!r} of run {run.run_id} is gone: {where} cannot be read ({err}) and the run keeps no copy "
            "of it; put the dataset back there to replay it"
        ) from None
    current = bytes_sha256(data)
    if sha256 and current != sha256:
        raise ImageChangedError(
            f"image {name!r} of run {run.run_id} changed since it was measured: {where} now has sha256 "
            f"{current[:12]}..., the run measured {sha256[:12]}...; put the original dataset back, or sweep the new "
            "one in a new run"
        )
    return RunImage(name=name, sha256=current, path=Path(source.location), copy=False, data=data)


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
