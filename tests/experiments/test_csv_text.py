"""The store's CSV cell encoding: one line, formula-safe, and every name round-trips without collisions."""

from __future__ import annotations

import csv
import io

import pytest

from experiments.csv_text import from_cell, legacy_cell, to_cell

TRICKY = [
    "plain.png",
    "a\nb.jpg",
    "a\\nb.jpg",
    "a\\\nb.jpg",
    "=x",
    "'=x",
    "''=x",
    "'x",
    "+1.png",
    "-1.png",
    "@home.png",
    "\tlead.png",
    "\rcr.png",
    "back\\slash.png",
    "trail\\",
    "ünïcode/日本.png",
    "",
    "'",
    "\\",
    'comma,and"quote".png',
]


@pytest.mark.parametrize("name", TRICKY)
def test_names_round_trip_and_stay_on_one_safe_line(name):
    cell = to_cell(name)
    assert from_cell(cell) == name
    assert "\n" not in cell and "\r" not in cell
    assert not cell.startswith(("=", "+", "-", "@", "\t")) and (not cell.startswith("'") or len(cell) > 1)


def test_no_two_names_share_a_cell():
    cells = [to_cell(name) for name in TRICKY]
    assert len(set(cells)) == len(TRICKY)
    # the collisions of the old rule are gone
    assert legacy_cell("a\nb.jpg") == legacy_cell("a\\nb.jpg") and to_cell("a\nb.jpg") != to_cell("a\\nb.jpg")
    assert legacy_cell("=x") == legacy_cell("'=x") and to_cell("=x") != to_cell("'=x")


def test_cells_survive_the_csv_module():
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([to_cell(n) for n in TRICKY])
    assert buffer.getvalue().count("\n") == 1
    (row,) = csv.reader(io.StringIO(buffer.getvalue()))
    assert [from_cell(c) for c in row] == TRICKY


def test_ordinary_names_are_written_as_before():
    for name in ("img000.png", "photos/cat 1.jpg", "=sum.png", "a\nb"):
        assert to_cell(name) == legacy_cell(name)


def test_a_cell_the_rule_cannot_write_is_refused():
    with pytest.raises(ValueError, match="lone backslash"):
        from_cell("a\\qb")
