"""The loss history: typed rows, ``losses.csv`` and the curve."""

from __future__ import annotations

import csv

from recipes.tiny_pair.history import COLUMNS, HistoryRow, plot_curve, write_history

ROWS = [
    HistoryRow("pixel", 1, 1e-4, 1.5, 0.0, 0.0, 0.5),
    HistoryRow("pixel", 2, 2e-4, 1.25, 0.0, 0.0, 1.0),
    HistoryRow("gan", 1, 1e-4, 1.0, -0.1, 1.9, 1.5),
]


def test_history_csv_has_the_documented_columns_and_round_trips(tmp_path):
    write_history(tmp_path / "losses.csv", ROWS)
    with open(tmp_path / "losses.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == COLUMNS == ("phase", "step", "lr", "pixel_loss", "g_adv", "d_loss", "seconds")
    assert [r["phase"] for r in rows] == ["pixel", "pixel", "gan"] and float(rows[2]["d_loss"]) == 1.9
    assert [p.name for p in tmp_path.iterdir()] == ["losses.csv"]  # no temporary file left behind
    assert HistoryRow.from_dict({**ROWS[2].__dict__, "extra": 1}) == ROWS[2]


def test_curve_is_a_png_with_and_without_a_gan_phase(tmp_path):
    for name, rows in (("both.png", ROWS), ("pixel.png", ROWS[:2])):
        assert plot_curve(rows, tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
