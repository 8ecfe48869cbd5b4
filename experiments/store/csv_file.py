"""The losses CSV file: crash-safe appends, readers that never fail on a damaged line, the typed read.

    <run>/losses.csv          one row per (image, checkpoint, mask, mask_ratio, seed)
    <run>/losses.rank<R>.csv  per-rank shards of a torchrun sweep until rank 0 merges them

Guarantees, and how they are kept:
- Rows are appended one batch per write under a file lock (``filelock``, an ``flock`` released by the kernel
  when its holder dies), then flushed and fsynced, so two writers never interleave.
- A writer killed mid-write leaves at worst a torn last line (no newline at the end). Readers ignore it and the next
  writer cuts it off before appending, so a store always loads. String cells are written by
  :mod:`experiments.csv_text`: never a raw newline (one row is exactly one line), never read as a spreadsheet
  formula, and reversible, so two different image names never share a cell and loaded names are the given ones.
- A file keeps its run's schema's header (:mod:`experiments.store.schema`); a file of an earlier version of that
  schema is given the schema's header, its rows padded, before rows are appended.
"""

from __future__ import annotations

import csv
import io
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from filelock import FileLock

from experiments.csv_text import from_cell
from experiments.store.schema import (
    COLUMNS,
    FIRST_COLUMNS,
    LEGACY_CELLS,
    LEGACY_COLUMNS,
    REQUIRED,
    SCHEMA_COLUMNS,
    SCHEMA_VERSION,
    TABLE,
)
from mae_core.files import atomic_output


@dataclass(frozen=True)
class SkippedLine:
    """A line of a losses file that readers left out: malformed, or a cell that does not parse."""

    path: Path
    line: int  # 1-based, the header being line 1
    reason: str


def skipped_notes(skipped: Sequence[SkippedLine], shown: int = 5) -> list[str]:
    """One line per file: how many of its lines were left out, and which (the first ``shown`` with their reason)."""
    by_file: dict[Path, list[SkippedLine]] = {}
    for item in skipped:
        by_file.setdefault(item.path, []).append(item)
    notes = []
    for path, items in by_file.items():
        items = sorted(set(items), key=lambda i: i.line)
        listed = ", ".join(f"line {i.line} ({i.reason})" for i in items[:shown])
        more = f" and {len(items) - shown} more" if len(items) > shown else ""
        notes.append(f"{path}: {len(items)} unreadable line(s) left out: {listed}{more}")
    return notes


def append_cells(
    target: Path, cells: Sequence[Sequence[str]], columns: tuple[str, ...], *, durable: bool = True
) -> int:
    """Append ``cells`` (rows in ``columns``) to the losses file ``target`` as one locked write, the header first if
    the file is new; ``durable`` fsyncs before the lock is released. Returns the rows written."""
    if not cells:
        return 0
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(cells)
    payload = buffer.getvalue().encode("utf-8")
    with FileLock(lock_path(target)):
        _upgrade_header(target, columns)
        with open(target, "a+b") as f:
            _repair_tail(f)
            if f.tell() == 0:
                f.write(_header_bytes(columns))
            f.write(payload)  # one write: a kill leaves a prefix of it, repaired by the next writer
            f.flush()
            if durable:
                os.fsync(f.fileno())
    return len(cells)


def lock_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.lock")


def _header_bytes(columns: Sequence[str] = COLUMNS) -> bytes:
    return (",".join(columns) + "\n").encode("utf-8")


def _header_columns(path: Path, first_line: bytes) -> tuple[str, ...]:
    """The columns a losses file's header names: a schema's (``SCHEMA_COLUMNS``) or, for a schema-1 file written
    before the optional metrics, a prefix of schema 1's holding at least the first version's columns. ``ValueError``
    for anything else."""
    text = first_line.rstrip(b"\r\n").decode("utf-8", "replace")
    names = tuple(text.split(","))
    if names in SCHEMA_COLUMNS.values():
        return names
    if len(names) >= len(FIRST_COLUMNS) and names == LEGACY_COLUMNS[: len(names)]:
        return names
    raise ValueError(f"{path}: not a losses file of this store (header {text!r}, expected {','.join(COLUMNS)})")


def _upgrade_header(path: Path, columns: tuple[str, ...]) -> None:
    """Give a losses file written by an earlier version of its run's schema that schema's ``columns``, its rows
    padded with empty cells, atomically (called under the file's lock before appending, so old and new rows never
    share a file with two layouts)."""
    if not path.exists():
        return
    with open(path, "rb") as f:
        first = f.readline()
    if not first.endswith(b"\n") or first == _header_bytes(columns):  # new, torn (repaired by the append) or current
        return
    present = _header_columns(path, first)
    if present != columns[: len(present)]:
        raise ValueError(f"{path}: its header ({','.join(present)}) is not of its run's schema ({','.join(columns)})")
    with open(path, "rb") as f, atomic_output(path) as staging:
        size = _complete_size(f)
        f.seek(len(first))
        body = f.read(size - len(first)).decode("utf-8")
        with open(staging, "w", encoding="utf-8", newline="") as out:
            out.write(_header_bytes(columns).decode("utf-8"))
            writer = csv.writer(out, lineterminator="\n")
            padding = [""] * (len(columns) - len(present))
            writer.writerows(row + padding for row in csv.reader(io.StringIO(body)))


def _repair_tail(f) -> None:
    """Cut a torn last line (a killed writer's partial batch) so the file ends on a row boundary."""
    end = f.seek(0, os.SEEK_END)
    size = _complete_size(f)
    if size != end:
        f.truncate(size)
    f.seek(0, os.SEEK_END)


def empty_frame() -> pd.DataFrame:
    return _typed(pd.DataFrame({name: pd.Series([], dtype=object) for name in COLUMNS}))


def _typed(frame: pd.DataFrame, decode: bool = True) -> pd.DataFrame:
    """Each column read as its kind (:data:`TABLE`): string cells decoded (``decode``: a file of schema 2 or later),
    numbers and flags parsed, an empty cell of a column with a legacy value given that value."""
    for column in TABLE:
        name, kind = column.name, column.kind
        if kind == "text":
            frame[name] = frame[name].astype(str)
            if decode:
                frame[name] = frame[name].map(from_cell)
        elif kind == "flag":
            frame[name] = frame[name].astype(str).str.lower().isin(("true", "1"))
        elif kind == "whole":
            number = pd.to_numeric(frame[name], errors="coerce")
            if column.legacy:
                number = number.fillna(int(column.legacy))
            frame[name] = number.astype("int64")
        else:  # ratio, number, optional: an empty cell is NaN
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    return frame


def read_losses(
    path: str | os.PathLike, *, legacy: Mapping[str, str] = LEGACY_CELLS, skipped: list[SkippedLine] | None = None
) -> pd.DataFrame:
    """Rows of one losses CSV in ``COLUMNS``, typed, names decoded; a torn last line, malformed lines and rows with
    a cell that does not parse are left out, never fatal (the last two added to ``skipped``). A file of an earlier
    schema gets ``legacy`` values in the columns it lacks (and its names as they were written: that schema's
    encoding is not reversible)."""
    path = Path(path)
    chunks = list(raw_chunks(path, usecols=COLUMNS, legacy=legacy, skipped=skipped))
    if not chunks:
        return empty_frame()
    frame = pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]
    return _typed(frame, decode=file_schema(path) >= 2)


def file_schema(path: Path) -> int:
    """The schema of a losses file, from its header (the newest for an empty or torn-header file)."""
    with open(path, "rb") as f:
        header = f.readline()
    if not header.endswith(b"\n"):
        return SCHEMA_VERSION
    columns = _header_columns(path, header)
    return next((v for v, c in SCHEMA_COLUMNS.items() if c == columns and v > 1), 1)


class _Bounded(io.RawIOBase):
    """A read-only view of the first ``size`` bytes of a binary file."""

    def __init__(self, f, size: int) -> None:
        self._f, self._left = f, size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._left <= 0:
            return 0
        n = self._f.readinto(memoryview(buffer)[: min(len(buffer), self._left)])
        self._left -= n or 0
        return n or 0


def _complete_size(f) -> int:
    """Bytes up to and including the last newline: a torn last line is left out."""
    end = f.seek(0, os.SEEK_END)
    pos = end
    while pos > 0:
        start = max(0, pos - 65536)
        f.seek(start)
        cut = f.read(pos - start).rfind(b"\n")
        if cut >= 0:
            return start + cut + 1
        pos = start
    return 0


def raw_empty(usecols: Sequence[str] = COLUMNS) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series([], dtype=str) for name in usecols})


def _file_columns(f, path: Path) -> tuple[str, ...] | None:
    """The columns of the open losses file ``f`` by its header; None while the header is still torn."""
    header = f.readline()
    return _header_columns(path, header) if header.endswith(b"\n") else None


def raw_chunks(
    path: Path,
    *,
    usecols: Sequence[str] | None = None,
    chunk_rows: int = 100_000,
    legacy: Mapping[str, str] = LEGACY_CELLS,
    skipped: list[SkippedLine] | None = None,
):
    """The complete, readable rows of a losses file as string DataFrames of at most ``chunk_rows`` rows, with
    ``usecols`` (default: the file's columns); columns an earlier schema lacks are filled from ``legacy``.

    Malformed lines (a wrong number of fields) and rows whose cells do not parse (``_invalid``) are left out; when the
    file has been read to its end, each is added to ``skipped`` with its line number."""
    with open(path, "rb") as f:
        size = _complete_size(f)
        f.seek(0)
        columns = _file_columns(f, path) if size else None
        if columns is None:
            return
        wanted = list(usecols) if usecols is not None else list(columns)
        f.seek(0)
        reader = pd.read_csv(
            io.BufferedReader(_Bounded(f, size)),
            dtype=str,
            keep_default_na=False,
            on_bad_lines="warn",  # a ParserWarning naming each line: collected below
            skip_blank_lines=False,  # a blank line is a row (left out as incomplete): row k stays line k + 2
            # every column, not usecols: with usecols the parser takes a line with extra fields without a word
            chunksize=chunk_rows,
            engine="c",
        )
        malformed: list[SkippedLine] = []
        unparsable: list[tuple[int, str]] = []  # (row number among the parsed rows, reason)
        parsed = 0
        with reader:
            while True:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", pd.errors.ParserWarning)
                    try:
                        chunk = next(reader)
                    except StopIteration:
                        chunk = None
                malformed += _malformed_lines(path, caught)
                if chunk is None:
                    break
                reasons = _invalid(chunk, decode=columns == COLUMNS)
                unparsable += [(parsed + int(k), reason) for k, reason in reasons.items()]
                parsed += len(chunk)
                chunk = chunk.drop(index=reasons.index).reset_index(drop=True)
                for name in wanted:  # columns the file's schema or version lacks: what such a run measured
                    if name not in chunk.columns:
                        chunk[name] = legacy[name]
                yield chunk[wanted]
        if skipped is not None:
            skipped += malformed + _line_numbers(path, unparsable, sorted(m.line for m in malformed))


_WHOLE = re.compile(r"^\d+$")
_BAD_LINE = re.compile(r"Skipping line (\d+): (.*)")


def _malformed_lines(path: Path, caught: Sequence[warnings.WarningMessage]) -> list[SkippedLine]:
    found = []
    for warning in caught:
        for line in str(warning.message).splitlines():
            match = _BAD_LINE.match(line.strip())
            if match:
                found.append(SkippedLine(path, int(match.group(1)), f"malformed: {match.group(2)}"))
    return found


def _line_numbers(path: Path, rows: Sequence[tuple[int, str]], malformed: Sequence[int]) -> list[SkippedLine]:
    """Parsed row ``k`` (0-based) is on line ``k + 2`` plus the malformed lines before it (``rows`` ascending)."""
    out, j = [], 0
    for k, reason in rows:
        while j < len(malformed) and malformed[j] <= k + 2 + j:
            j += 1
        out.append(SkippedLine(path, k + 2 + j, reason))
    return out


def _invalid(chunk: pd.DataFrame, *, decode: bool) -> pd.Series:
    """Why each row of a raw chunk cannot be trusted (index: the rows left out): a required cell empty (a short
    or blank line), a number, ratio, seed or crop that does not parse, a name the store cannot have written."""
    reason = pd.Series("", index=chunk.index, dtype=object)

    def flag(bad: pd.Series, why) -> None:
        bad = bad & (reason == "")
        if bad.any():
            reason[bad] = [why(v) for v in chunk.index[bad]]

    required = [c for c in REQUIRED if c in chunk.columns]
    empty = chunk[required] == ""
    flag(empty.any(axis=1), lambda k: f"{empty.columns[empty.loc[k]][0]} is empty")
    for name in _of_kind(chunk, "whole", required=True):
        flag(~chunk[name].str.match(_WHOLE), lambda k, n=name: f"{n} {chunk.at[k, n]!r} is not a whole number")
    for name in _of_kind(chunk, "ratio"):
        ratio = pd.to_numeric(chunk[name], errors="coerce")
        flag(~((ratio > 0) & (ratio < 1)), lambda k, n=name: f"{n} {chunk.at[k, n]!r} is not a ratio in (0, 1)")
    for name in _of_kind(chunk, "number", "optional"):
        cells = chunk[name]
        number = pd.to_numeric(cells, errors="coerce")
        flag(
            number.isna() & ~cells.str.lower().isin(("", "nan")),
            lambda k, n=name: f"{n} {chunk.at[k, n]!r} is not a number",
        )
    for name in _of_kind(chunk, "flag"):
        flag(
            ~chunk[name].str.lower().isin(("true", "false", "1", "0")),
            lambda k, n=name: f"{n} {chunk.at[k, n]!r} is not True or False",
        )
    if "mask" in chunk.columns:  # a strategy always has a name (schema 1 files are given the default one)
        flag(chunk["mask"] == "", lambda k: "mask is empty")
    if decode:
        for name in _of_kind(chunk, "text"):
            flag(
                ~chunk[name].map(_decodable), lambda k, n=name: f"{n} {chunk.at[k, n]!r} is not a cell the store writes"
            )
    return reason[reason != ""]


def _of_kind(chunk: pd.DataFrame, *kinds: str, required: bool = False) -> list[str]:
    """The columns of ``chunk`` of one of ``kinds`` (only the required ones with ``required``), in table order."""
    return [c.name for c in TABLE if c.kind in kinds and c.name in chunk.columns and (c.required or not required)]


def _decodable(cell: str) -> bool:
    try:
        from_cell(cell)
    except ValueError:
        return False
    return True
