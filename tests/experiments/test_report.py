"""Report folders, files and the text a reviewer reads: what was used, what was left out, and why."""

from __future__ import annotations

import pandas as pd
import pytest

from experiments.analysis import PAIRED_COLUMNS, SUMMARY_COLUMNS
from experiments.report import new_report_folder, write_report
from tests.experiments.helpers import study_frame


def test_files_tables_and_text(tmp_path):
    df = study_frame(images=5, seeds=2)
    incomplete = df[~((df["image"] == "im4.png") & (df["mask_ratio"] == 0.9) & (df["seed"] == 1))]
    twice = pd.concat([incomplete, incomplete.assign(run_id="run-b")], ignore_index=True)
    report = write_report(twice, tmp_path / "r", "mse", statuses={"run-a": "finished", "run-b": "interrupted"})
    names = sorted(p.name for p in report.files)
    assert names == ["left_out_mse.csv", "mse_vs_ratio.png", "paired_mse.csv", "report_mse.txt", "summary_mse.csv"]
    summary = pd.read_csv(tmp_path / "r" / "summary_mse.csv")
    assert list(summary.columns) == list(SUMMARY_COLUMNS) and set(summary["n_images"]) == {4}
    assert list(pd.read_csv(tmp_path / "r" / "paired_mse.csv").columns) == list(PAIRED_COLUMNS)
    text = report.text
    assert "runs run-a (finished), run-b (interrupted)" in text
    assert "run run-b is interrupted, not finished" in text
    assert f"{len(incomplete)} duplicate row(s) collapsed" in text
    assert "balanced: 4 image(s) hold every cell (2 checkpoint(s) x 1 mask(s) x 3 ratio(s) x 2 seed(s))" in text
    assert "1 image(s) left out:\n  im4.png: missing 2 of 12 cells, e.g. tiny-pixel random 0.9 seed 1" in text
    assert "paired difference tiny-gan - tiny-pixel" in text
    assert (tmp_path / "r" / "report_mse.txt").read_text() == text


def test_unbalanced_report_lists_the_images_of_each_ratio(tmp_path):
    df = study_frame(images=3, seeds=1)
    df = df[~((df["image"] == "im1.png") & (df["mask_ratio"] == 0.5))]
    report = write_report(df, tmp_path / "r", "loss", allow_unbalanced=True)
    assert (tmp_path / "r" / "images_per_ratio_loss.csv").exists()
    assert 'random 0.5: 2 image(s) ["im0.png", "im2.png"]' in report.text
    assert "unbalanced (--allow-unbalanced): 3 image(s)" in report.text


def test_single_image_report_says_it_holds_for_that_image_only(tmp_path):
    report = write_report(study_frame(images=1, seeds=3), tmp_path / "r", "loss")
    assert set(report.summary["ci_over"]) == {"seeds"}
    assert "a single image (im0.png) at every point: the interval is over its seeds" in report.text
    assert "holds for that image only" in report.text


def test_conflicts_are_listed_and_left_out(tmp_path):
    df = study_frame(images=3, seeds=1, ratios=(0.5,), shift=(0,))
    other = df.assign(run_id="run-b")
    other.loc[other["image"] == "im2.png", "loss"] += 1
    report = write_report(pd.concat([df, other]), tmp_path / "r", "loss")
    conflicts = pd.read_csv(tmp_path / "r" / "conflicts_loss.csv")
    assert len(conflicts) == 2 and set(conflicts["image"]) == {"im2.png"}
    assert "2 cell(s) have different values in different runs and are left out, not averaged" in report.text
    assert "im2.png: 2 cell(s) with conflicting values across runs" in report.text


def test_an_explicit_pair_that_cannot_pair_is_an_error(tmp_path):
    df = study_frame(images=2, seeds=1)
    with pytest.raises(ValueError, match="not in these runs"):
        write_report(df, tmp_path / "r", "loss", a="nope")


def test_report_folders_never_collide(tmp_path):
    first = new_report_folder(tmp_path, ["r1", "r2"], "loss")
    second = new_report_folder(tmp_path, ["r1", "r2"], "loss")
    assert first != second and first.parent == second.parent == tmp_path / "reports"
    assert first.name.startswith("r1+r2_loss_")
    many = new_report_folder(tmp_path, [f"20260101-000000-{i:06x}" for i in range(9)], "psnr")
    assert many.name.startswith("20260101-000000-000000+8more_psnr_")
