"""Corrupt and hand-edited files are named, never crash, never skew: unparsable cells and malformed lines in
``report``, ``export`` and ``runs``; manifests of the wrong types or broken JSON; formula-safe CSVs; an hf-dataset
export into a folder holding another run's export (all through ``python -m experiments`` subprocesses)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd

from experiments.export import CARD_MARKER
from tests.experiments.helpers import edit_cells, run_cli, store_runs, study_frame

RUN_IDS = ("20260101-000000-aaaaaa", "20260102-000000-bbbbbb")  # created in this order


def _garble(losses: Path) -> None:
    """Line 3: ratio ``notanumber``; line 5: seed ``x``; line 7: one field too many; line 9: blank."""
    lines = edit_cells(losses, {3: ("mask_ratio", "notanumber"), 5: ("seed", "x")})
    lines[6] = lines[6].rstrip("\n") + ",extra\n"
    lines[8] = "\n"
    losses.write_text("".join(lines))


def test_report_runs_and_export_name_unparsable_lines_and_leave_them_out(tmp_path):
    root = tmp_path / "runs"
    (run_id,) = store_runs(root, study_frame(images=4, seeds=2))
    losses = root / run_id / "losses.csv"
    total = len(losses.read_text().splitlines()) - 1
    _garble(losses)
    expected = f"{losses}: 4 unreadable line(s) left out: line 3 (mask_ratio 'notanumber' is not a ratio in (0, 1))"

    report = run_cli("report", run_id, "--out", str(root), "--allow-unbalanced")
    assert report.returncode == 0, report.stderr
    assert "Traceback" not in report.stderr and expected in report.stderr
    assert "line 5 (seed 'x' is not a whole number)" in report.stderr and "line 7 (malformed: " in report.stderr
    assert "line 9 (image is empty)" in report.stderr
    assert f"note: {expected}" in report.stdout  # and in the report's notes
    folder = Path(report.stdout.strip().splitlines()[-1].split(": ", 1)[1])
    summary = pd.read_csv(folder / "summary_loss.csv")
    assert sorted(set(summary["mask_ratio"])) == [0.5, 0.75, 0.9]  # no NaN ratio

    export = run_cli("export", run_id, "--dest", str(tmp_path / "out"), "--out", str(root))
    assert export.returncode == 0, export.stderr
    assert expected in export.stderr and f"wrote {total - 4} rows" in export.stdout

    listed = run_cli("runs", "--out", str(root))
    assert listed.returncode == 0 and expected in listed.stderr
    assert f" {total - 4}/{total} " in listed.stdout  # a run without a recorded plan: its readable rows


def test_manifests_of_wrong_types_or_broken_json_are_named_and_listed_unreadable(tmp_path):
    root = tmp_path / "runs"
    frame = pd.concat([study_frame(images=2, seeds=2, run_id=r) for r in RUN_IDS])
    older, newer = store_runs(root, frame)
    path = root / newer / "manifest.json"
    manifest = json.loads(path.read_text())

    for change, what in (({"status": 5}, "'status' is 5"), ({"created": 123}, "'created' is 123")):
        path.write_text(json.dumps({**manifest, **change}))
        listed = run_cli("runs", "--out", str(root))
        assert listed.returncode == 0, listed.stderr
        assert [line.split()[:3] for line in listed.stdout.splitlines()[1:]][-1] == [newer, "?", "unreadable"]
        assert older in listed.stdout
        assert f"warning: {path}: manifest of run {newer}: {what}" in listed.stderr
        latest = run_cli("report", "latest", "--out", str(root))
        assert latest.returncode == 2 and older not in latest.stdout
        (line,) = latest.stderr.strip().splitlines()
        assert str(path) in line and what in line and "Traceback" not in line
        named = run_cli("report", newer, "--out", str(root))
        assert named.returncode == 2 and str(path) in named.stderr and what in named.stderr

    path.write_text(path.read_text()[:-5])  # broken JSON
    listed = run_cli("runs", "--out", str(root))
    assert f"warning: {path}: not valid JSON (" in listed.stderr and "unreadable" in listed.stdout
    latest = run_cli("report", "latest", "--out", str(root))
    assert latest.returncode == 2 and "not valid JSON" in latest.stderr and len(latest.stderr.splitlines()) == 1


def test_every_csv_the_report_writes_is_formula_safe(tmp_path):
    root = tmp_path / "runs"
    frame = study_frame(images=4, seeds=2)
    frame["image"] = frame["image"].map(lambda name: f'=HYPERLINK("http://x","{name}")')
    # one image lacks a cell: it is left out of a balanced report, and listed in left_out_loss.csv
    frame = frame.drop(frame.index[(frame["image"].str.contains("im3")) & (frame["seed"] == 1)][:1])
    (run_id,) = store_runs(root, frame)
    report = run_cli("report", run_id, "--out", str(root))
    assert report.returncode == 0, report.stderr
    folder = Path(report.stdout.strip().splitlines()[-1].split(": ", 1)[1])
    written = sorted(folder.glob("*.csv"))
    assert folder / "left_out_loss.csv" in written
    for path in written:
        with open(path, newline="") as f:
            for row in csv.reader(f):
                assert not any(cell.startswith(("=", "+", "@")) for cell in row), (path, row)
    left = pd.read_csv(folder / "left_out_loss.csv")
    assert list(left["image"]) == ['\'=HYPERLINK("http://x","im3.png")']


def test_an_hf_dataset_export_adds_to_a_folder_holding_another_runs_export(tmp_path):
    root = tmp_path / "runs"
    frame = pd.concat([study_frame(images=2, seeds=2, run_id=r) for r in RUN_IDS])
    first, second = store_runs(root, frame)
    dest = tmp_path / "repo"
    for run_id in (first, second):
        result = run_cli("export", run_id, "--format", "hf-dataset", "--dest", str(dest), "--out", str(root))
        assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (dest / "data").iterdir()) == [f"{first}.parquet", f"{second}.parquet"]
    assert sorted(p.name for p in (dest / "runs").iterdir()) == [first, second]
    card = (dest / "README.md").read_text()
    assert CARD_MARKER in card and first in card and second in card
    from datasets import load_dataset

    data = load_dataset(str(dest), split="train", cache_dir=str(tmp_path / "datasets-cache"))  # no other test's "repo"
    assert set(data["run_id"]) == {first, second} and data.num_rows == len(frame)
