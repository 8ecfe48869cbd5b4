"""Reading the chosen rows of a run's datasets: each row's image, every dataset opened once per reader."""

from __future__ import annotations

from collections.abc import Sequence

from experiments.sources.items import DatasetSource, ImageItem, LoadedImage
from experiments.sources.opening import open_dataset, select_rows
from experiments.sources.rows import RowAccess, cell_bytes
from experiments.sources.specs import DatasetOptions, DatasetSpec, dataset_spec
from mae_core.evaluation.preprocess import ImageError, load_image
from mae_core.files import bytes_sha256


class DatasetReaders:
    """One open dataset per :class:`DatasetSource`, kept for a sweep so a stream is read forward once."""

    def __init__(self) -> None:
        self._rows: dict[int, tuple[DatasetSource, RowAccess]] = {}

    def rows(self, source: DatasetSource) -> RowAccess:
        key = id(source)
        if key not in self._rows:
            spec = DatasetSpec(kind=source.kind, location=source.id, name=source.name, revision=source.revision)
            opened = open_dataset(spec, revision=source.revision)
            self._rows[key] = (source, opened.rows(source.split, source.column))
        return self._rows[key][1]

    def read(self, source: DatasetSource, index: int) -> bytes:
        """The encoded image of row ``index``; :class:`ImageError` with the reason when it cannot be had."""
        try:
            return cell_bytes(self.rows(source).get(index))
        except ImageError as err:
            raise ImageError(f"{source.image_name(index)}: {err}") from None


def read_row(item: ImageItem, readers: DatasetReaders | None = None) -> LoadedImage:
    """Decode the dataset row ``item`` names, read through ``readers`` (one is made for the call when None)."""
    assert item.dataset is not None and item.index is not None
    data = (readers or DatasetReaders()).read(item.dataset, item.index)
    try:
        image = load_image(data)
    except ImageError as err:
        raise ImageError(f"{item.name}: {err}") from None
    return LoadedImage(item=item, sha256=bytes_sha256(data), image=image, data=data)


def source_items(source: DatasetSource) -> list[ImageItem]:
    """The run's images of ``source``, one per chosen row."""
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
