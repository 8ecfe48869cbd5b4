"""Text in the run store's CSV cells: one line, never run as a spreadsheet formula, and reversible.

The rule (store schema 2 and later), applied to every string cell:

1. a backslash becomes ``\\\\``, a line feed ``\\n``, a carriage return ``\\r`` - so one row is one line, and the
   escapes cannot be confused with a name that contains a backslash;
2. then, if the result starts with ``=``, ``+``, ``-``, ``@``, a tab or a single quote, one single quote is put in
   front (the OWASP advice against CSV injection; a leading quote is itself quoted, so it can be told apart).

:func:`from_cell` undoes both steps, so every name round-trips and two different names never share a cell:
``a<newline>b.jpg`` is ``a\\nb.jpg`` while the literal ``a\\nb.jpg`` is ``a\\\\nb.jpg``; ``=x`` is ``'=x`` while ``'=x``
is ``''=x``. Stores written before schema 2 used :func:`legacy_cell` (no backslash escape, no quoting of a quote),
which is kept to match the cells those runs hold when they are resumed.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "'")
_LEGACY_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r"}
_UNESCAPES = {"\\": "\\", "n": "\n", "r": "\r"}


@functools.lru_cache(maxsize=1 << 16)  # run ids, image and checkpoint names repeat on every row
def to_cell(text: str) -> str:
    """``text`` as the store writes it: one line, safe in a spreadsheet, decodable by :func:`from_cell`."""
    escaped = "".join(_ESCAPES.get(char, char) for char in str(text))
    return "'" + escaped if escaped.startswith(_FORMULA_STARTS) else escaped


@functools.lru_cache(maxsize=1 << 16)
def from_cell(cell: str) -> str:
    """The text :func:`to_cell` encoded; ``ValueError`` for a cell this rule cannot have written."""
    body = cell[1:] if cell.startswith("'") else cell
    out, chars = [], iter(body)
    for char in chars:
        if char != "\\":
            out.append(char)
            continue
        following = next(chars, None)
        if following not in _UNESCAPES:
            raise ValueError(f"cell {cell!r} is not in the store's escaped form (a lone backslash)")
        out.append(_UNESCAPES[following])
    return "".join(out)


@functools.lru_cache(maxsize=1 << 16)
def legacy_cell(text: str) -> str:
    """The encoding of stores before schema 2: line breaks escaped, formula starts quoted; not reversible."""
    text = str(text)
    escaped = text.replace("\r", "\\r").replace("\n", "\\n")
    return "'" + escaped if text.startswith(_LEGACY_FORMULA_STARTS) else escaped


def write_csv(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """``frame`` as a CSV file at ``path`` (no index), every text cell written by :func:`to_cell`: one line per row,
    never a spreadsheet formula, decodable by :func:`from_cell`. Numbers, booleans and empty cells stay as they are.
    Every table the project writes for people (reports, exports) goes through here."""
    from pandas.api.types import is_string_dtype  # pandas only for the tables: the cell rules need none

    safe = frame.copy()
    for name in safe.columns:
        if safe[name].dtype == object or is_string_dtype(safe[name]):
            safe[name] = safe[name].map(lambda value: to_cell(value) if isinstance(value, str) else value)
    safe.to_csv(path, index=False)
    return Path(path)
