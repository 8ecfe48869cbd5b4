"""Which ``--images`` arguments name a Hugging Face dataset, and the recorded choice of its rows
(:class:`DatasetSource`).

An ``--images`` argument is a dataset when it is
- ``hf://datasets/ORG/NAME[@REVISION]``: a Hub dataset, streamed (nothing is downloaded whole before work starts);
  the revision is resolved to its commit once, and the run keeps reading that commit;
- a folder written by ``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk`` (``state.json`` or
  ``dataset_dict.json`` inside), read memory-mapped;
- a ``.parquet`` file, or a folder holding Parquet files and no images (split names from the file names, as
  ``datasets`` infers them), streamed;
- an ``imagefolder`` directory: a folder with a ``metadata.jsonl`` / ``metadata.csv`` / ``metadata.parquet`` at its
  top or in a split folder, or any folder written as ``imagefolder:DIR``; streamed. Without that marker a folder of
  images stays a plain folder (:mod:`experiments.sources.files`), named by relative path.

Every other argument is left to :mod:`experiments.sources.files`. The ``datasets`` library is imported only when a
dataset is actually opened, so a sweep over image files never pays for it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from experiments.sources.items import HUB_PREFIX, IMAGE_SUFFIXES
from mae_core.options import check_seed

IMAGEFOLDER_PREFIX = "imagefolder:"
DEFAULT_SPLIT = "validation"
METADATA_FILES = ("metadata.jsonl", "metadata.csv", "metadata.parquet")
_SAVED_MARKERS = (("state.json", "dataset_info.json"), ("dataset_dict.json",))
_REPO_ID = re.compile(r"^[\w.-]+(/[\w.-]+)?$")
COMMIT_SHA = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class DatasetSpec:
    """An ``--images`` argument that names a dataset: what kind, where, and the name its images carry."""

    kind: str  # one of KINDS
    location: str  # the Hub id, or an absolute path
    name: str  # NAME in NAME:SPLIT:INDEX
    revision: str | None = None  # Hub only: as asked (a branch, tag or commit); None means main


@dataclass(frozen=True)
class DatasetOptions:
    """How to pick rows from every dataset of a sweep (``--split``, ``--image-column``, ``--limit``,
    ``--sample-seed``)."""

    split: str | None = None
    image_column: str | None = None
    limit: int | None = None
    sample_seed: int | None = None

    def __post_init__(self) -> None:
        if self.limit is not None and (isinstance(self.limit, bool) or not isinstance(self.limit, int)):
            raise ValueError(f"--limit must be a whole number of images, got {self.limit!r}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"--limit must be at least 1, got {self.limit}")
        if self.sample_seed is not None:
            check_seed(self.sample_seed)
            if self.limit is None:
                raise ValueError("--sample-seed draws a subset of --limit N rows: give --limit too")
        for flag, value in (("--split", self.split), ("--image-column", self.image_column)):
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ValueError(f"{flag} must be a non-empty name, got {value!r}")

    @property
    def given(self) -> bool:
        return any(v is not None for v in (self.split, self.image_column, self.limit, self.sample_seed))


# ---- which arguments are datasets ----
def dataset_spec(text: str) -> DatasetSpec | None:
    """The dataset an ``--images`` argument names, or None for image files, plain folders and lists.

    ``ValueError`` for a malformed ``hf://datasets/`` id or an ``imagefolder:`` prefix before a missing folder."""
    text = str(text)
    if text.startswith(HUB_PREFIX):
        return _hub_spec(text)
    path = Path(text).expanduser()
    if text.startswith(IMAGEFOLDER_PREFIX) and not path.exists():
        folder = Path(text[len(IMAGEFOLDER_PREFIX) :]).expanduser()
        if not folder.is_dir():
            raise ValueError(f"--images {text}: {folder} is not a folder (imagefolder:DIR names an image folder)")
        return _local_spec("imagefolder", folder)
    if path.is_file() and path.suffix.lower() == ".parquet":
        return _local_spec("parquet", path)
    if path.is_dir():
        if any(all((path / marker).is_file() for marker in markers) for markers in _SAVED_MARKERS):
            return _local_spec("disk", path)
        if _has_metadata(path):
            return _local_spec("imagefolder", path)
        if _parquet_only(path):
            return _local_spec("parquet", path)
    return None


def _hub_spec(text: str) -> DatasetSpec:
    repo_id, _, revision = text[len(HUB_PREFIX) :].partition("@")
    repo_id = repo_id.strip("/")
    if not _REPO_ID.match(repo_id) or ".." in repo_id:
        raise ValueError(f"--images {text}: expected hf://datasets/ORG/NAME or hf://datasets/ORG/NAME@REVISION")
    return DatasetSpec(kind="hub", location=repo_id, name=repo_id, revision=revision or None)


def _local_spec(kind: str, path: Path) -> DatasetSpec:
    absolute = path.resolve()
    return DatasetSpec(kind=kind, location=str(absolute), name=absolute.name)


def _has_metadata(folder: Path) -> bool:
    children = [folder] + [c for c in folder.iterdir() if c.is_dir() and not c.name.startswith(".")]
    return any((child / name).is_file() for child in children for name in METADATA_FILES)


def _parquet_only(folder: Path) -> bool:
    suffixes = {
        Path(name).suffix.lower()
        for root, dirs, files in os.walk(folder)
        for name in files
        if not name.startswith(".") and "/." not in root.replace(os.sep, "/")
    }
    return ".parquet" in suffixes and not suffixes & IMAGE_SUFFIXES
