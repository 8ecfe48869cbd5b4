"""Images from Hugging Face ``datasets``: which ``--images`` arguments name a dataset, which rows a run takes, and
reading those rows' images.

An ``--images`` argument is a dataset when it is
- ``hf://datasets/ORG/NAME[@REVISION]``: a Hub dataset, streamed (nothing is downloaded whole before work starts);
  the revision is resolved to its commit once, and the run keeps reading that commit;
- a folder written by ``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk`` (``state.json`` or
  ``dataset_dict.json`` inside), read memory-mapped;
- a ``.parquet`` file, or a folder holding Parquet files and no images (split names from the file names, as
  ``datasets`` infers them), streamed;
- an ``imagefolder`` directory: a folder with a ``metadata.jsonl`` / ``metadata.csv`` / ``metadata.parquet`` at its
  top or in a split folder, or any folder written as ``imagefolder:DIR``; streamed. Without that marker a folder of
  images stays a plain folder (:mod:`experiments.images`), named by relative path as before.

Every other argument is left to :mod:`experiments.images`. The ``datasets`` library is imported only when a
dataset is actually opened, so a sweep over image files never pays for it.

Which rows: the split (``--split``; default ``validation``, else the only split), the image column
(``--image-column``; default the first column whose feature is ``datasets.Image``), then ``--limit N`` first rows, or
with ``--sample-seed S`` ``N`` rows drawn without replacement by ``numpy.random.default_rng(S)`` (sorted, so a stream
is read forward once). A row's image is named ``NAME:SPLIT:INDEX`` (``NAME:INDEX`` for a dataset without splits):
NAME is the Hub id, or the local folder's or file's name. The chosen rows are a :class:`DatasetSource`, which the
manifest records and a resume reads back unchanged.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mae_core.evaluation.preprocess import MAX_IMAGE_BYTES, ImageError, load_image
from mae_core.files import bytes_sha256
from mae_core.options import check_seed

if TYPE_CHECKING:
    from experiments.sources import ImageItem, LoadedImage

HUB_PREFIX = "hf://datasets/"
IMAGEFOLDER_PREFIX = "imagefolder:"
DEFAULT_SPLIT = "validation"
METADATA_FILES = ("metadata.jsonl", "metadata.csv", "metadata.parquet")
KINDS = ("hub", "disk", "parquet", "imagefolder")
_SAVED_MARKERS = (("state.json", "dataset_info.json"), ("dataset_dict.json",))
_REPO_ID = re.compile(r"^[\w.-]+(/[\w.-]+)?$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


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
    from experiments.sources import IMAGE_SUFFIXES

    suffixes = {
        Path(name).suffix.lower()
        for root, dirs, files in os.walk(folder)
        for name in files
        if not name.startswith(".") and "/." not in root.replace(os.sep, "/")
    }
    return ".parquet" in suffixes and not suffixes & IMAGE_SUFFIXES


# ---- choosing rows ----
def select_rows(spec: DatasetSpec, options: DatasetOptions = DatasetOptions()) -> DatasetSource:
    """Open the dataset, choose its split and image column, and the rows to evaluate."""
    opened = _open(spec)
    split = _choose_split(spec, opened.splits(), options.split)
    features = opened.features(split)
    column = _choose_column(spec, features, options.image_column)
    num_rows = opened.num_rows(split, column)
    if num_rows == 0:
        raise ValueError(f"dataset {spec.name}: split {split!r} has no rows")
    return DatasetSource(
        kind=spec.kind,
        id=spec.location,
        name=spec.name,
        revision=opened.revision,
        split=split,
        column=column,
        num_rows=num_rows,
        indices=choose_indices(num_rows, options.limit, options.sample_seed),
    )


def choose_indices(num_rows: int, limit: int | None, sample_seed: int | None) -> tuple[int, ...]:
    """All rows, the first ``limit``, or ``limit`` rows drawn with ``default_rng(sample_seed)``, ascending."""
    if limit is None or limit >= num_rows:
        return tuple(range(num_rows))
    if sample_seed is None:
        return tuple(range(limit))
    import numpy as np

    drawn = np.random.default_rng(sample_seed).choice(num_rows, size=limit, replace=False)
    return tuple(int(i) for i in np.sort(drawn))


def _choose_split(spec: DatasetSpec, splits: Sequence[str | None], asked: str | None) -> str | None:
    if splits == [None]:
        if asked is not None:
            raise ValueError(f"dataset {spec.name} has no splits (a saved Dataset); drop --split {asked}")
        return None
    if asked is not None:
        if asked not in splits:
            raise ValueError(f"dataset {spec.name} has no split {asked!r}; its splits: {', '.join(splits)}")
        return asked
    if DEFAULT_SPLIT in splits:
        return DEFAULT_SPLIT
    if len(splits) == 1:
        return splits[0]
    raise ValueError(
        f"dataset {spec.name} has no {DEFAULT_SPLIT!r} split and several others ({', '.join(splits)}): "
        "choose one with --split"
    )


def _choose_column(spec: DatasetSpec, features: Mapping[str, Any] | None, asked: str | None) -> str:
    from datasets import Image

    if features is None:
        if asked is None:
            raise ValueError(f"dataset {spec.name}: its columns are not declared; name the image column")
        return asked
    images = [name for name, feature in features.items() if isinstance(feature, Image)]
    if asked is not None:
        if asked not in features:
            raise ValueError(
                f"dataset {spec.name} has no column {asked!r}; its columns: {', '.join(features)}"
                + (f" (images: {', '.join(images)})" if images else "")
            )
        if asked not in images:
            raise ValueError(
                f"dataset {spec.name}: column {asked!r} holds {type(features[asked]).__name__}, not images"
                + (f"; its image columns: {', '.join(images)}" if images else "")
            )
        return asked
    if not images:
        raise ValueError(
            f"dataset {spec.name} has no image column (feature datasets.Image); its columns: {', '.join(features)}"
        )
    return images[0]


# ---- opening ----
class _Opened:
    """A dataset opened for choosing rows and reading them: splits, features, sizes and row access."""

    revision: str | None = None

    def splits(self) -> list[str | None]:
        raise NotImplementedError

    def features(self, split: str | None) -> Mapping[str, Any] | None:
        raise NotImplementedError

    def num_rows(self, split: str | None, column: str) -> int:
        raise NotImplementedError

    def rows(self, split: str | None, column: str) -> RowAccess:
        raise NotImplementedError


class _Saved(_Opened):
    """A ``save_to_disk`` folder (or a Hub dataset from the ``datasets`` cache when offline): memory-mapped Arrow."""

    def __init__(self, data: Any, revision: str | None = None) -> None:
        from datasets import Dataset

        self._single = isinstance(data, Dataset)
        self._data = data
        self.revision = revision

    def _split(self, split: str | None):
        return self._data if self._single else self._data[split]

    def splits(self) -> list[str | None]:
        return [None] if self._single else list(self._data)

    def features(self, split: str | None) -> Mapping[str, Any]:
        return self._split(split).features

    def num_rows(self, split: str | None, column: str) -> int:
        return len(self._split(split))

    def rows(self, split: str | None, column: str) -> RowAccess:
        from datasets import Image

        table = self._split(split).select_columns([column]).cast_column(column, Image(decode=False))
        return RandomRows(table, column)


class _Streamed(_Opened):
    """A dataset read through its builder's stream: Hub repositories, Parquet files, image folders."""

    def __init__(self, builder: Any, revision: str | None = None) -> None:
        if hasattr(builder.config, "decode_num_threads"):
            # folder builders on the Hub decode images in worker threads by default, a layer that a later
            # decode(False) does not remove: the sweep wants the encoded bytes (to hash them and to check sizes
            # before decoding), so no decoding layer at all
            builder.config.decode_num_threads = 0
        self._builder = builder
        self.revision = revision

    def splits(self) -> list[str | None]:
        declared = self._builder.info.splits
        names = list(self._builder.config.data_files or {}) or list(declared or {})
        return [str(n) for n in names]

    def stream(self, split: str | None):
        return self._builder.as_streaming_dataset(split=split)

    def features(self, split: str | None) -> Mapping[str, Any] | None:
        return self._builder.info.features or self.stream(split).features

    def num_rows(self, split: str | None, column: str) -> int:
        declared = self._builder.info.splits
        if declared and split in declared and declared[split].num_examples:
            return int(declared[split].num_examples)
        from datasets.packaged_modules.parquet.parquet import Parquet

        if isinstance(self._builder, Parquet):
            return sum(_parquet_rows(f) for f in self._builder.config.data_files[split])
        return sum(1 for _ in self.rows(split, column).iterate())

    def rows(self, split: str | None, column: str) -> RowAccess:
        return StreamedRows(lambda: self.stream(split), column)


def _parquet_rows(url: str) -> int:
    """Rows of a Parquet file from its footer alone (a range read for remote files)."""
    import fsspec
    import pyarrow.parquet as pq

    with fsspec.open(url, "rb") as handle:
        return pq.ParquetFile(handle).metadata.num_rows


def _open(spec: DatasetSpec, revision: str | None = None) -> _Opened:
    """``revision`` (a commit) re-opens a Hub dataset exactly as recorded; otherwise ``spec.revision`` is resolved."""
    import datasets

    try:
        if spec.kind == "disk":
            return _Saved(datasets.load_from_disk(spec.location))
        if spec.kind == "hub":
            return _open_hub(spec, revision)
        if spec.kind == "imagefolder":
            return _Streamed(datasets.load_dataset_builder("imagefolder", data_dir=spec.location))
        path = Path(spec.location)
        files = {"data_files": str(path)} if path.is_file() else {"data_dir": str(path)}
        return _Streamed(datasets.load_dataset_builder("parquet", **files))
    except (FileNotFoundError, datasets.exceptions.DatasetNotFoundError) as err:
        raise ValueError(f"dataset {spec.name}: cannot open it ({err})") from None


def _open_hub(spec: DatasetSpec, commit: str | None) -> _Opened:
    import datasets
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return _open_hub_cached(spec, commit)
    commit = commit or resolve_commit(spec.location, spec.revision)
    try:
        builder = datasets.load_dataset_builder(spec.location, revision=commit)
    except datasets.exceptions.DatasetNotFoundError as err:
        raise ValueError(f"dataset {spec.name}@{commit[:12]}: {err}") from None
    return _Streamed(builder, revision=commit)


def _open_hub_cached(spec: DatasetSpec, commit: str | None) -> _Opened:
    """Offline (``HF_HUB_OFFLINE=1``): the copy that ``datasets.load_dataset`` prepared earlier, never the network."""
    import datasets

    commit = commit or _cached_commit(spec.location, spec.revision or "main")
    try:
        data = datasets.load_dataset(spec.location, revision=commit)
    except (ConnectionError, FileNotFoundError, OSError, datasets.exceptions.DatasetNotFoundError) as err:
        raise ValueError(
            f"dataset {spec.name}: HF_HUB_OFFLINE is set and no prepared copy is in the datasets cache "
            f"({type(err).__name__}); load it once online with datasets.load_dataset({spec.location!r}), "
            "or unset HF_HUB_OFFLINE to stream it"
        ) from None
    return _Saved(data, revision=commit)


def _cached_commit(repo_id: str, revision: str) -> str | None:
    """The commit a revision pointed to when the dataset was last fetched (the HF cache's ``refs``), if any."""
    if _COMMIT.match(revision):
        return revision
    from huggingface_hub import constants

    ref = Path(constants.HF_HUB_CACHE) / f"datasets--{repo_id.replace('/', '--')}" / "refs" / revision
    try:
        return ref.read_text().strip() or None
    except OSError:
        return None


def resolve_commit(repo_id: str, revision: str | None) -> str:
    """The commit a Hub dataset's revision (branch, tag or commit; None is main) points to now."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

    try:
        info = HfApi().dataset_info(repo_id, revision=revision)
    except RevisionNotFoundError:
        raise ValueError(f"dataset {repo_id} has no revision {revision!r} on the Hub") from None
    except RepositoryNotFoundError:
        raise ValueError(
            f"no dataset {repo_id} on the Hub, or it is private or gated: log in (hf auth login) or set HF_TOKEN"
        ) from None
    except (HfHubHTTPError, OSError) as err:
        raise ValueError(
            f"cannot reach the Hub for dataset {repo_id} ({type(err).__name__}: {err}); "
            "set HF_HUB_OFFLINE=1 to use a cached copy"
        ) from None
    if not info.sha:
        raise ValueError(f"the Hub did not say which commit {repo_id}@{revision or 'main'} is")
    return str(info.sha)


# ---- reading rows ----
class RowAccess:
    """The image cells of one split's column, by row index."""

    def get(self, index: int) -> Mapping[str, Any]:
        raise NotImplementedError


class RandomRows(RowAccess):
    """Random access into an Arrow table (memory-mapped: nothing is read until asked)."""

    def __init__(self, table: Any, column: str) -> None:
        self._table, self._column = table, column

    def get(self, index: int) -> Mapping[str, Any]:
        return self._table[int(index)][self._column]


class StreamedRows(RowAccess):
    """Rows of a stream, read forward: asking for ascending indices reads the stream once; an earlier index
    restarts it (a resume of a sharded run asks in ascending order too)."""

    def __init__(self, make_stream, column: str) -> None:
        self._make_stream, self._column = make_stream, column
        self._iterator: Iterator[tuple[int, Mapping[str, Any]]] | None = None
        self._position = -1
        self._current: Mapping[str, Any] | None = None

    def iterate(self) -> Iterator[Mapping[str, Any]]:
        stream = self._make_stream().select_columns([self._column]).decode(False)
        for row in stream:
            yield row[self._column]

    def get(self, index: int) -> Mapping[str, Any]:
        if self._iterator is None or index < self._position:
            self._iterator, self._position, self._current = enumerate(self.iterate()), -1, None
        while self._position < index:
            try:
                self._position, self._current = next(self._iterator)
            except StopIteration:
                self._iterator = None
                raise ImageError(f"row {index} is past the end of the dataset (it has {self._position + 1})") from None
        assert self._current is not None
        return self._current


def cell_bytes(cell: Mapping[str, Any] | None) -> bytes:
    """The encoded image of a ``datasets.Image(decode=False)`` cell: its bytes, else the file at its path."""
    if not cell:
        raise ImageError("the row has no image")
    data = cell.get("bytes")
    if data:
        if len(data) > MAX_IMAGE_BYTES:
            raise ImageError(f"{len(data) / 2**20:.0f} MiB is over the {MAX_IMAGE_BYTES // 2**20} MiB limit")
        return bytes(data)
    path = cell.get("path")
    if not path:
        raise ImageError("the row's image has neither bytes nor a path")
    import fsspec

    try:
        with fsspec.open(path, "rb") as handle:
            data = handle.read(MAX_IMAGE_BYTES + 1)
    except (OSError, ValueError) as err:
        raise ImageError(f"cannot read {path} ({err})") from None
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageError(f"{path}: over the {MAX_IMAGE_BYTES // 2**20} MiB limit")
    return data


class DatasetReaders:
    """One open dataset per :class:`DatasetSource`, kept for a sweep so a stream is read forward once."""

    def __init__(self) -> None:
        self._rows: dict[int, tuple[DatasetSource, RowAccess]] = {}

    def rows(self, source: DatasetSource) -> RowAccess:
        key = id(source)
        if key not in self._rows:
            spec = DatasetSpec(kind=source.kind, location=source.id, name=source.name, revision=source.revision)
            opened = _open(spec, revision=source.revision)
            self._rows[key] = (source, opened.rows(source.split, source.column))
        return self._rows[key][1]

    def read(self, source: DatasetSource, index: int) -> bytes:
        """The encoded image of row ``index``; :class:`ImageError` with the reason when it cannot be had."""
        try:
            return cell_bytes(self.rows(source).get(index))
        except ImageError as err:
            raise ImageError(f"{source.image_name(index)}: {err}") from None


# ---- items and images ----
def source_items(source: DatasetSource) -> list[ImageItem]:
    """The run's images of ``source``, one per chosen row."""
    from experiments.sources import ImageItem

    return [ImageItem(name=source.image_name(i), path=source.location, index=i, dataset=source) for i in source.indices]


def dataset_sources(items: Sequence[ImageItem]) -> tuple[DatasetSource, ...]:
    """The datasets that ``items`` are rows of, each once, in order of appearance."""
    seen: dict[int, DatasetSource] = {}
    for item in items:
        if item.dataset is not None and id(item.dataset) not in seen:
            seen[id(item.dataset)] = item.dataset
    return tuple(seen.values())


def load_images(
    spec: str,
    *,
    split: str | None = None,
    image_column: str | None = None,
    limit: int | None = None,
    sample_seed: int | None = None,
) -> list[LoadedImage]:
    """The chosen rows of a dataset as decoded images, for ``mae_core.evaluate(models, [i.image for i in ...])``.

    ``spec`` is anything ``--images`` takes as a dataset (see the module docstring). Unreadable rows raise
    :class:`ImageError`; a sweep skips them instead."""
    from experiments.sources import LoadedImage

    named = dataset_spec(spec)
    if named is None:
        raise ValueError(
            f"{spec} is not a dataset; expected hf://datasets/ORG/NAME, a save_to_disk folder, "
            "Parquet files or an image folder with metadata.jsonl (or imagefolder:DIR)"
        )
    source = select_rows(named, DatasetOptions(split, image_column, limit, sample_seed))
    readers = DatasetReaders()
    loaded = []
    for item in source_items(source):
        data = readers.read(source, item.index)
        image = load_image(data)
        loaded.append(LoadedImage(item=item, sha256=bytes_sha256(data), image=image))
    return loaded
