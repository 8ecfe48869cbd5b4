"""Resume and ``runs`` count cells, not rows: a row overwritten by a copy of its neighbour, a garbled ratio or seed,
a torn tail (all through ``python -m experiments`` subprocesses)."""

from __future__ import annotations

from pathlib import Path

import pytest

from experiments.store import load_runs
from tests.experiments.helpers import edit_cells, run_cli, write_images

CELL = ["image", "checkpoint", "mask_ratio", "seed"]


@pytest.fixture
def cli_run(tmp_path, checkpoint_pair) -> tuple[Path, str]:
    """A finished CLI sweep: 2 images x 2 checkpoints x ratios 0.5, 0.75 x seed 0 (8 cells). (root, run id)."""
    write_images(tmp_path / "imgs", 2)
    root = tmp_path / "runs"
    result = run_cli(
        "sweep", "--images", str(tmp_path / "imgs"), "--checkpoints", *checkpoint_pair, "--ratios", "0.5,0.75",
        "--seeds", "0", "--device", "cpu", "--out", str(root), "--no-progress",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    run_id = result.stdout.split()[1]
    return root, run_id


def _rows_cells(root: Path, run_id: str) -> str:
    """The ROWS/CELLS column of ``runs`` for the run."""
    listed = run_cli("runs", "--out", str(root))
    assert listed.returncode == 0, listed.stderr
    header, *lines = listed.stdout.splitlines()
    column = header.split().index("ROWS/CELLS")
    (line,) = [line for line in lines if line.startswith(run_id)]
    return line.split()[column]


def _resume(root: Path, run_id: str):
    result = run_cli("sweep", "--resume", run_id, "--out", str(root), "--no-progress")
    assert result.returncode == 0, result.stderr
    return result


def _complete(root: Path, run_id: str) -> None:
    rows = load_runs(run_id, root=root)
    cells = set(rows[CELL].itertuples(index=False, name=None))
    assert len(cells) == 8 and {r for _, _, r, _ in cells} == {0.5, 0.75}


def test_a_row_overwritten_by_its_neighbour_is_measured_again(cli_run):
    root, run_id = cli_run
    losses = root / run_id / "losses.csv"
    lines = losses.read_text().splitlines(keepends=True)
    same_image = next(k for k in range(2, len(lines)) if lines[k].split(",")[1] == lines[1].split(",")[1])
    lines[same_image] = lines[1]  # the image still has 4 rows, but one cell twice and one missing
    losses.write_text("".join(lines))
    assert _rows_cells(root, run_id) == "7/8"
    assert "(1 new)" in _resume(root, run_id).stdout
    _complete(root, run_id)
    assert "(0 new)" in _resume(root, run_id).stdout  # and then it is done
    assert _rows_cells(root, run_id) == "8/8"
    report = run_cli("report", run_id, "--out", str(root))
    assert report.returncode == 0, report.stderr
    assert "balanced: 2 image(s) hold every cell" in report.stdout


def test_garbled_ratio_and_seed_cells_are_named_and_measured_again(cli_run):
    root, run_id = cli_run
    losses = root / run_id / "losses.csv"
    edit_cells(losses, {3: ("mask_ratio", "notanumber"), 6: ("seed", "x")})
    resumed = _resume(root, run_id)
    assert "(2 new)" in resumed.stdout
    assert f"{losses}: 2 unreadable line(s) left out: line 3 (mask_ratio 'notanumber'" in resumed.stderr
    assert "line 6 (seed 'x' is not a whole number)" in resumed.stderr
    _complete(root, run_id)


def test_runs_counts_the_cells_a_torn_tail_leaves_readable(cli_run):
    root, run_id = cli_run
    losses = root / run_id / "losses.csv"
    data = losses.read_bytes()
    losses.write_bytes(data[: data.rstrip(b"\n").rfind(b"\n") + 10])  # the last row cut inside its line
    manifest = (root / run_id / "manifest.json").read_text()
    assert '"rows": 8' in manifest
    assert _rows_cells(root, run_id) == "7/8"
    assert "(1 new)" in _resume(root, run_id).stdout
    assert _rows_cells(root, run_id) == "8/8"
