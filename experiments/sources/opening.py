"""Opening a dataset and choosing the rows a run takes.

Which rows: the split (``--split``; default ``validation``, else the only split), the image column
(``--image-column``; default the first column whose feature is ``datasets.Image``), then ``--limit N`` first rows, or
with ``--sample-seed S`` ``N`` rows drawn without replacement by ``numpy.random.default_rng(S)`` (sorted, so a stream
is read forward once). A row's image is named ``NAME:SPLIT:INDEX`` (``NAME:INDEX`` for a dataset without splits):
NAME is the Hub id, or the local folder's or file's name. The chosen rows are a :class:`DatasetSource`, which the
manifest records and a resume reads back unchanged.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from experiments.sources.items import DatasetSource
from experiments.sources.rows import RandomRows, RowAccess, StreamedRows
from experiments.sources.specs import COMMIT_SHA, DEFAULT_SPLIT, DatasetOptions, DatasetSpec

_NO_OPTIONS = DatasetOptions()  # every dataset option left to its default


# ---- choosing rows ----
def select_rows(spec: DatasetSpec, options: DatasetOptions = _NO_OPTIONS) -> DatasetSource:
    """Open the dataset, choose its split and image column, and the rows to evaluate."""
    opened = open_dataset(spec)
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
class _Opened(ABC):
    """A dataset opened for choosing rows and reading them: splits, features, sizes and row access."""

    revision: str | None = None

    @abstractmethod
    def splits(self) -> list[str | None]:
        """The dataset's splits (``[None]`` for one without named splits)."""

    @abstractmethod
    def features(self, split: str | None) -> Mapping[str, Any] | None:
        """The features of ``split``; None where they are known only once rows are read."""

    @abstractmethod
    def num_rows(self, split: str | None, column: str) -> int:
        """How many rows ``split`` holds."""

    @abstractmethod
    def rows(self, split: str | None, column: str) -> RowAccess:
        """``column``'s cells of ``split``, by row index."""


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


def open_dataset(spec: DatasetSpec, revision: str | None = None) -> _Opened:
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
    if COMMIT_SHA.match(revision):
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
