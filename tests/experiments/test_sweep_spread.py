"""``sweep --metrics spread``: each image's mean spread over all the run's seeds as the last CSV column (store schema
4), equal to ``mask_uncertainty``'s; left empty with a note below two seeds; resumed rows measured over all the seeds;
runs of schema 3 load with it empty, resume in their schema, and a report of spread on them is a one-line error."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest

from experiments.store import SCHEMA_COLUMNS, load_runs
from mae_core.checkpoints.loading import load_model
from mae_core.evaluation.uncertainty import mask_uncertainty
from tests.experiments.helpers import REPO_ROOT, kill_after_rows, run_cli, start_cli, write_images

PHOTOS = [REPO_ROOT / "examples" / name for name in ("chelsea.jpg", "coffee.jpg")]
GROUP = ["image", "checkpoint", "mask", "mask_ratio"]  # the rows that share one spread: all the run's seeds
CELL = [*GROUP, "seed"]


def _run_dir(root: Path) -> Path:
    (run_dir,) = [p.parent for p in root.glob("*/manifest.json")]
    return run_dir


def test_cli_sweep_spread_is_each_images_mean_spread_over_all_the_seeds(tmp_path):
    root = tmp_path / "runs"
    done = run_cli(
        "sweep", "--images", *map(str, PHOTOS), "--checkpoints", "tiny-pixel", "tiny-gan", "--ratios", "0.5,0.75",
        "--seeds", "0-3", "--masks", "random,block", "--metrics", "ssim,spread",
        "--batch-size", "3",  # not a whole seed group: a batch then holds one group
        "--out", str(root), "--no-progress", timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    run_dir = _run_dir(root)
    header = (run_dir / "losses.csv").read_text().splitlines()[0]
    assert header.endswith(",size,spread")  # appended at the end: schema 4
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["schema_version"] == 4 and manifest["metrics"] == ["loss", "mse", "psnr", "ssim", "spread"]
    df = load_runs(run_dir.name, root=root)
    assert len(df) == 2 * 2 * 2 * 2 * 4 and df["spread"].notna().all() and df["ssim"].notna().all()
    models = {name: load_model(name) for name in ("tiny-pixel", "tiny-gan")}
    groups = df.groupby(GROUP)
    assert groups.ngroups == 16
    for (image, checkpoint, mask, ratio), rows in groups:
        assert sorted(rows["seed"]) == [0, 1, 2, 3] and rows["spread"].nunique() == 1  # one value per seed group
        expected = mask_uncertainty(
            models[checkpoint], image, ratio, seeds=(0, 1, 2, 3), strategy=mask, crop=False, dtype="float32"
        ).mean_spread
        assert rows["spread"].iloc[0] == pytest.approx(expected, rel=1e-5), (image, checkpoint, mask, ratio)
    # the report takes spread as any metric: its summary over images and the paired difference b - a
    report = run_cli("report", run_dir.name, "--metric", "spread", "--out", str(root), timeout=300)
    assert report.returncode == 0, report.stderr
    assert "spread per checkpoint, mask and ratio" in report.stdout
    assert "paired difference tiny-gan - tiny-pixel on identical masks" in report.stdout
    folder = Path(report.stdout.rsplit("report folder: ", 1)[1].strip())
    paired = pd.read_csv(folder / "paired_spread.csv")
    assert len(paired) == 4 and paired[["mean_diff", "ci_low", "ci_high", "p_ttest"]].notna().all().all()
    means = df.groupby(["checkpoint", "mask", "mask_ratio", "image"])["spread"].mean()
    for row in paired.itertuples():
        gan, pixel = (means[(name, row.mask, row.mask_ratio)] for name in ("tiny-gan", "tiny-pixel"))
        assert row.mean_diff == pytest.approx((gan - pixel).mean(), rel=1e-6)
    # the images ranked by spread: one value per image over all its seeds, so no interval over seeds (not 0 wide)
    ranking = pd.read_csv(folder / "ranking_spread.csv")
    assert ranking["mean_diff"].notna().all() and ranking[["ci_low", "ci_high"]].isna().all().all()
    assert pd.read_csv(folder / "ranking_ssim.csv")[["ci_low", "ci_high"]].notna().all().all()
    assert "note: ranking_spread.csv has no interval (ci_low, ci_high empty): spread is one value per image" in (
        report.stdout
    )
    breakdown = run_cli(
        "report", run_dir.name, "--breakdown", "spread>0.01", "--out", str(root), timeout=300
    )  # fmt: skip
    assert breakdown.returncode == 0, breakdown.stderr
    assert "no interval: spread is one value per image over all its seeds" in breakdown.stdout
    folder = Path(breakdown.stdout.rsplit("report folder: ", 1)[1].strip())
    table = pd.read_csv(folder / "breakdown_spread_gt_0.01.csv")
    assert len(table) == 2 * 2 * 2 and table[["ci_low", "ci_high"]].isna().all().all()
    assert table["breakdown_ratio"].notna().all()


def test_one_seed_leaves_spread_empty_with_one_note_and_its_report_is_one_line(tmp_path, checkpoint_pair):
    write_images(tmp_path / "imgs", 2)
    root = tmp_path / "runs"
    done = run_cli(
        "sweep", "--images", str(tmp_path / "imgs"), "--checkpoints", *checkpoint_pair, "--ratios", "0.5,0.75",
        "--metrics", "spread", "--batch-size", "1", "--out", str(root), "--no-progress",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    note = "spread left empty: it is measured over a run's seeds and this run has 1"
    assert done.stderr.count(note) == 1, done.stderr  # once, not per row or batch
    run_dir = _run_dir(root)
    lines = (run_dir / "losses.csv").read_text().splitlines()
    assert len(lines) == 1 + 2 * 2 * 2 and all(line.endswith(",") for line in lines[1:])  # empty cells, not "nan"
    assert load_runs(run_dir.name, root=root)["spread"].isna().all()
    report = run_cli("report", run_dir.name, "--metric", "spread", "--out", str(root))
    assert report.returncode == 2 and report.stderr.count("\n") == 1, report.stderr
    assert "no spread values: the selected runs did not compute spread" in report.stderr
    assert "--metrics spread and two or more --seeds" in report.stderr and "Traceback" not in report.stderr


def _sweep_args(folder: Path, checkpoint_pair, root: Path) -> list[str]:
    return [
        "--images", str(folder), "--checkpoints", *checkpoint_pair, "--ratios", "0.25,0.5,0.75", "--seeds", "0-3",
        "--metrics", "spread", "--batch-size", "1", "--out", str(root), "--no-progress",
    ]  # fmt: skip


def test_a_killed_run_resumed_measures_the_missing_rows_spread_over_all_its_seeds(tmp_path, checkpoint_pair):
    folder = tmp_path / "imgs"
    write_images(folder, 8)
    total = 8 * 2 * 3 * 4
    whole = run_cli("sweep", *_sweep_args(folder, checkpoint_pair, tmp_path / "whole"), timeout=300)
    assert whole.returncode == 0, whole.stderr
    reference = load_runs(_run_dir(tmp_path / "whole").name, root=tmp_path / "whole").set_index(CELL)["spread"]
    assert len(reference) == total and reference.notna().all()

    root = tmp_path / "runs"
    proc = start_cli("sweep", *_sweep_args(folder, checkpoint_pair, root))
    run_dir = kill_after_rows(proc, root, 24, timeout=120)
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "running", "finished before the kill"
    losses = run_dir / "losses.csv"
    lines = losses.read_text().splitlines(keepends=True)
    complete = [line for line in lines if line.endswith("\n")]
    # rows are appended a batch (one seed group, in seed order) at a time: keep whole groups, less the last two
    # seeds of the last one, so the resume must measure a group whose other seeds are already stored
    whole_groups = (len(complete) - 1) // 4 * 4
    losses.write_text("".join(complete[: 1 + whole_groups - 2]))
    before = load_runs(run_dir.name, root=root)
    assert 22 <= len(before) < total and before.groupby(GROUP)["seed"].count().min() == 2

    done = run_cli("sweep", "--resume", run_dir.name, "--out", str(root), "--no-progress", timeout=300)
    assert done.returncode == 0, done.stderr
    after = load_runs(run_dir.name, root=root)
    assert len(after) == total and not after.duplicated(CELL).any()
    spread = after.set_index(CELL)["spread"]
    pd.testing.assert_series_equal(spread.sort_index(), reference.sort_index(), rtol=1e-6, check_names=False)
    # the rows stored before the kill were kept as written, only the missing ones were added
    kept = before.merge(after, on=CELL, suffixes=("", "_after"))
    assert len(kept) == len(before) and (kept["timestamp"] == kept["timestamp_after"]).all()


def _as_schema_3(run_dir: Path) -> None:
    """Rewrite a run as this store wrote it before schema 4: the CSV without its last column (spread)."""
    losses = run_dir / "losses.csv"
    with open(losses, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == list(SCHEMA_COLUMNS[4]) and SCHEMA_COLUMNS[4][:-1] == SCHEMA_COLUMNS[3]
    with open(losses, "w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(row[:-1] for row in rows)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    (run_dir / "manifest.json").write_text(json.dumps({**manifest, "schema_version": 3}))


def test_a_schema_3_run_loads_with_spread_empty_resumes_in_its_schema_and_reports_spread_in_one_line(
    tmp_path, checkpoint_pair
):
    write_images(tmp_path / "imgs", 2)
    root = tmp_path / "runs"
    args = ["--images", str(tmp_path / "imgs"), "--checkpoints", *checkpoint_pair, "--ratios", "0.5,0.75",
            "--seeds", "0-1", "--out", str(root), "--no-progress"]  # fmt: skip
    assert run_cli("sweep", *args).returncode == 0
    run_dir = _run_dir(root)
    _as_schema_3(run_dir)
    losses = run_dir / "losses.csv"
    lines = losses.read_text().splitlines(keepends=True)
    losses.write_text("".join(lines[:-3]))  # a run killed before its last rows
    df = load_runs(run_dir.name, root=root)
    assert len(df) == 13 and df["spread"].isna().all() and df["size"].eq(32).all()

    report = run_cli("report", run_dir.name, "--metric", "spread", "--out", str(root))
    assert report.returncode == 2 and report.stderr.count("\n") == 1, report.stderr
    assert report.stderr.startswith("error: no spread values")
    assert run_cli("report", run_dir.name, "--out", str(root)).returncode == 0  # its own metrics report as before

    done = run_cli("sweep", "--resume", run_dir.name, "--out", str(root), "--no-progress")
    assert done.returncode == 0, done.stderr
    lines = losses.read_text().splitlines()
    assert lines[0] == ",".join(SCHEMA_COLUMNS[3]) and len(lines) == 1 + 16  # its own header: no spread column
    assert all(len(row) == len(SCHEMA_COLUMNS[3]) for row in csv.reader(lines))
    assert json.loads((run_dir / "manifest.json").read_text())["schema_version"] == 3
    assert load_runs(run_dir.name, root=root)["spread"].isna().all()
