"""``python -m experiments report`` on a synthetic store, its tables checked against scipy computed here: duplicates,
a single image, an unbalanced (unfinished) run, Holm; report folders, ``latest``, ``--a/--b``; ``runs``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from experiments.analysis import PAIRED_COLUMNS, SUMMARY_COLUMNS
from experiments.manifest import ImageRecord
from experiments.sources import ImageFailure
from experiments.store import RunStore
from tests.experiments.helpers import (
    expected_holm,
    expected_paired_row,
    expected_summary_row,
    run_cli,
    store_runs,
    study_frame,
)


def report(root: Path, *args: str) -> tuple[str, Path]:
    done = run_cli("report", *args, "--out", str(root))
    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("report folder: "), done.stdout
    return done.stdout, Path(last.removeprefix("report folder: "))


def check_tables(folder: Path, df: pd.DataFrame, metric: str, a: str = "tiny-pixel", b: str = "tiny-gan") -> None:
    summary = pd.read_csv(folder / f"summary_{metric}.csv")
    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    for row in summary.itertuples():
        expected = expected_summary_row(df, row.checkpoint, row.mask_ratio, metric)
        for name, value in expected.items():
            got = getattr(row, name)
            assert got == (pytest.approx(value, rel=1e-9) if isinstance(value, float) else value), name
    paired = pd.read_csv(folder / f"paired_{metric}.csv")
    assert list(paired.columns) == list(PAIRED_COLUMNS)
    assert set(paired["a"]) == {a} and set(paired["b"]) == {b}
    for row in paired.itertuples():
        for name, value in expected_paired_row(df, row.mask_ratio, a, b, metric).items():
            assert getattr(row, name) == pytest.approx(value, rel=1e-9), name
    assert paired["p_holm"].tolist() == pytest.approx(expected_holm(paired["p_ttest"].tolist()), rel=1e-9)


def test_duplicate_runs_count_once_and_every_report_has_its_own_folder(tmp_path):
    df = study_frame(images=6, seeds=3, ratios=(0.5, 0.75, 0.9), shift=(0.03, 0.0, -0.04))
    copy = df.assign(run_id="run-b")
    store_runs(tmp_path, pd.concat([df, copy], ignore_index=True))
    text, both = report(tmp_path, "run-a", "run-b", "--metric", "mse")
    check_tables(both, df, "mse")
    assert "balanced: 6 image(s) hold every cell (2 checkpoint(s) x 1 mask(s) x 3 ratio(s) x 3 seed(s))" in text
    assert f"{len(df)} duplicate row(s) collapsed" in text
    assert "runs run-a (finished), run-b (finished)" in text
    text, twice = report(tmp_path, "run-a", "run-a", "--metric", "mse")  # the same run named twice
    check_tables(twice, df, "mse")
    assert twice != both and both.exists() and twice.parent == both.parent == tmp_path / "reports"
    _, latest = report(tmp_path, "latest", "--metric", "mse")
    assert latest.name.startswith("run-b_mse_")  # the newest run
    png = both / "mse_vs_ratio.png"
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_a_single_image_an_explicit_pair_and_the_holm_column(tmp_path):
    df = study_frame(images=1, seeds=4, ratios=(0.25, 0.5, 0.75, 0.9), shift=(0.05, 0.02, 0.0, -0.05))
    store_runs(tmp_path, df)
    text, folder = report(tmp_path, "run-a", "--a", "tiny-gan", "--b", "tiny-pixel")
    summary = pd.read_csv(folder / "summary_loss.csv")
    assert set(summary["ci_over"]) == {"seeds"} and set(summary["n_images"]) == {1}
    for row in summary.itertuples():
        expected = expected_summary_row(df, row.checkpoint, row.mask_ratio)
        assert (row.ci_low, row.ci_high) == pytest.approx((expected["ci_low"], expected["ci_high"]), rel=1e-9)
    assert "a single image (im0.png) at every point" in text and "holds for that image only" in text
    paired = pd.read_csv(folder / "paired_loss.csv")
    assert set(paired["a"]) == {"tiny-gan"} and set(paired["b"]) == {"tiny-pixel"}
    assert paired["p_holm"].tolist() == pytest.approx(expected_holm(paired["p_ttest"].tolist()), rel=1e-9)
    assert (paired["p_holm"] >= paired["p_ttest"]).all() and (paired["p_holm"] <= 1).all()


def test_an_unfinished_unbalanced_run_is_marked_and_balanced_by_default(tmp_path):
    df = study_frame(images=5, seeds=2, ratios=(0.5, 0.75), shift=(0.02, -0.02), run_id="cut")
    gone = (df["image"] == "im4.png") & (df["mask_ratio"] == 0.75) & (df["checkpoint"] == "tiny-gan")
    store_runs(tmp_path, df[~gone], statuses={"cut": "interrupted"})
    text, folder = report(tmp_path, "cut")
    assert "runs cut (interrupted)" in text and "run cut is interrupted, not finished" in text
    assert "1 image(s) left out:\n  im4.png: missing 2 of 8 cells, e.g. tiny-gan random 0.75 seed 0" in text
    balanced = df[df["image"] != "im4.png"]
    check_tables(folder, balanced, "loss")
    assert pd.read_csv(folder / "left_out_loss.csv")["image"].tolist() == ["im4.png"]
    text, folder = report(tmp_path, "cut", "--allow-unbalanced")
    used = pd.read_csv(folder / "images_per_ratio_loss.csv").set_index("mask_ratio")
    assert used["n_images"].to_dict() == {0.5: 5, 0.75: 5}  # the pixel checkpoint still has im4 at 0.75
    summary = pd.read_csv(folder / "summary_loss.csv").set_index(["checkpoint", "mask_ratio"])
    assert summary.loc[("tiny-gan", 0.75), "n_images"] == 4 and summary.loc[("tiny-pixel", 0.75), "n_images"] == 5
    check_tables(folder, df[~gone], "loss")


def test_images_a_run_holds_no_row_of_are_counted_and_named_among_those_left_out(tmp_path):
    df = study_frame(images=3, seeds=2, ratios=(0.5, 0.75), shift=(0.02, -0.02), run_id="cut")
    store_runs(tmp_path, df, statuses={"cut": "interrupted"})
    run = RunStore(tmp_path).open("cut")
    planned = (ImageRecord("never.png", "/data/never.png"), ImageRecord("broken.png", "/data/broken.png"))
    run.update_manifest(
        images=run.read_manifest().images + planned,
        errors=(ImageFailure("broken.png", "/data/broken.png", "broken.png: the file is empty"),),
    )
    text, folder = report(tmp_path, "cut")
    assert "balanced: 3 image(s) hold every cell" in text and "; 2 image(s) left out" in text
    assert "  never.png: no rows: run cut is interrupted and did not measure it\n" in text
    assert "  broken.png: could not be read in run cut: broken.png: the file is empty\n" in text
    left_out = pd.read_csv(folder / "left_out_loss.csv")
    assert left_out[["image", "cells", "expected"]].values.tolist() == [["never.png", 0, 8], ["broken.png", 0, 8]]
    check_tables(folder, df, "loss")  # the measured images are what they were
    text, folder = report(tmp_path, "cut", "--allow-unbalanced")
    assert "unbalanced (--allow-unbalanced): 3 image(s)" in text and "2 image(s) without rows left out" in text
    assert pd.read_csv(folder / "left_out_loss.csv")["image"].tolist() == ["never.png", "broken.png"]


def test_report_errors_are_one_line_and_leave_no_folder(tmp_path):
    store_runs(tmp_path, study_frame(images=2, seeds=1))
    for args, message in (
        (("nope",), "no run 'nope'"),
        (("run-a", "--a", "missing"), "checkpoint 'missing' is not in these runs"),
    ):
        done = run_cli("report", *args, "--out", str(tmp_path))
        assert done.returncode == 2 and message in done.stderr, done.stderr
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert not (tmp_path / "reports").exists() or not any((tmp_path / "reports").iterdir())
    empty = run_cli("report", "latest", "--out", str(tmp_path / "empty"))
    assert empty.returncode == 2 and "no runs under" in empty.stderr


def test_runs_lists_what_each_run_holds(tmp_path):
    df = study_frame(images=3, seeds=2, ratios=(0.25, 0.5, 0.75, 0.9, 0.95), shift=(0,) * 5)
    store_runs(tmp_path, df)
    done = run_cli("runs", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    header, line = done.stdout.splitlines()
    columns = [
        "RUN_ID",
        "CREATED",
        "STATUS",
        "IMAGES",
        "CHECKPOINTS",
        "RATIOS",
        "SEEDS",
        "ROWS/CELLS",
        "ERRORS",
        "MASKS",
    ]
    assert header.split() == columns
    run_id, created, status, images, checkpoints, ratios, seeds, rows, errors, masks = line.split()
    assert (run_id, status, images, checkpoints) == ("run-a", "finished", "3", "tiny-pixel,tiny-gan")
    assert (ratios, seeds, rows, errors, masks) == ("0.25..0.95(5)", "0,1", "60/60", "0", "random")
    assert created.endswith("Z") and created[:4].isdigit() and "T" in created
