"""Where a sweep's images come from, bottom to top: the image types (``items``), image files, folders and lists
(``files``), which arguments are datasets and the recorded choice of rows (``specs``), a split's rows by index
(``rows``), opening a dataset and choosing rows (``opening``), reading the chosen rows (``reading``), and expanding
and reading a sweep's ``--images`` (``collect``). The ``datasets`` library is imported only when a dataset is opened.
"""

from __future__ import annotations

from experiments.sources.collect import expand_images, read_image, read_images
from experiments.sources.files import file_items, read_file
from experiments.sources.items import (
    HUB_PREFIX,
    IMAGE_SUFFIXES,
    KINDS,
    LIST_SUFFIXES,
    DatasetSource,
    ImageFailure,
    ImageItem,
    LoadedImage,
)
from experiments.sources.opening import choose_indices, resolve_commit, select_rows
from experiments.sources.reading import DatasetReaders, dataset_sources, load_images, read_row, source_items
from experiments.sources.rows import RandomRows, RowAccess, StreamedRows, cell_bytes
from experiments.sources.specs import (
    DEFAULT_SPLIT,
    IMAGEFOLDER_PREFIX,
    METADATA_FILES,
    DatasetOptions,
    DatasetSpec,
    dataset_spec,
)

__all__ = [
    "DEFAULT_SPLIT",
    "HUB_PREFIX",
    "IMAGEFOLDER_PREFIX",
    "IMAGE_SUFFIXES",
    "KINDS",
    "LIST_SUFFIXES",
    "METADATA_FILES",
    "DatasetOptions",
    "DatasetReaders",
    "DatasetSource",
    "DatasetSpec",
    "ImageFailure",
    "ImageItem",
    "LoadedImage",
    "RandomRows",
    "RowAccess",
    "StreamedRows",
    "cell_bytes",
    "choose_indices",
    "dataset_sources",
    "dataset_spec",
    "expand_images",
    "file_items",
    "load_images",
    "read_file",
    "read_image",
    "read_images",
    "read_row",
    "resolve_commit",
    "select_rows",
    "source_items",
]
