"""A split's image column by row index: random access for a memory-mapped dataset, a forward-only reader for a
stream; and a cell's encoded image bytes."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from typing import Any

from mae_core.evaluation.preprocess import MAX_IMAGE_BYTES, ImageError


# ---- reading rows ----
class RowAccess(ABC):
    """The image cells of one split's column, by row index."""

    @abstractmethod
    def get(self, index: int) -> Mapping[str, Any]:
        """Row ``index``: its cells by column name."""


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
