"""ranking.py: images ranked per mask and ratio by the seed-mean paired difference with a t-interval over seeds;
the contact sheet shows the top and bottom images, and unavailable ones as named grey tiles (report CLI)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageOps

from experiments.analysis import t_interval
from experiments.ranking import RANKING_COLUMNS, TILE, contact_sheet, rank_images, sheet_images
from experiments.run_images import RunImage
from tests.experiments.helpers import run_cli, store_runs, study_frame, write_images


def test_images_are_ranked_by_their_seed_mean_difference_with_an_interval_over_seeds():
    df = study_frame(images=5, seeds=4, ratios=(0.5, 0.75), shift=(0.01, -0.01), masks=("random", "grid"))
    ranking = rank_images(df, "loss")
    assert list(ranking.columns) == list(RANKING_COLUMNS) and len(ranking) == 2 * 2 * 5
    for (mask, ratio), group in ranking.groupby(["mask", "mask_ratio"]):
        assert list(group["rank"]) == [1, 2, 3, 4, 5]
        assert group["mean_diff"].is_monotonic_decreasing
        for row in group.itertuples():
            cells = df[(df["image"] == row.image) & (df["mask"] == mask) & (df["mask_ratio"] == ratio)]
            side = cells.pivot(index="seed", columns="checkpoint", values="loss")
            mean, _, low, high = t_interval((side["tiny-gan"] - side["tiny-pixel"]).to_numpy())
            assert (row.mean_diff, row.ci_low, row.ci_high) == pytest.approx((mean, low, high))
            assert row.n_seeds == 4 and row.image_sha256 == cells["image_sha256"].iloc[0]


def test_contact_sheet_shows_the_top_and_bottom_images_and_greys_out_missing_ones(tmp_path):
    paths = write_images(tmp_path / "pics", 3)
    df = study_frame(images=3, seeds=2, ratios=(0.75,), shift=(0.0,))
    ranking = rank_images(df, "mse")
    first, last = ranking.iloc[0], ranking.iloc[-1]
    files = {f"{i:064x}": RunImage(path.name, f"{i:064x}", path, copy=False) for i, path in enumerate(paths)}
    files[last["image_sha256"]] = f"image {last['image']!r} of run run-a is gone"  # the last-ranked image is gone
    sheet = contact_sheet(ranking, files, "mse", tmp_path / "sheet.png", per_side=2)
    assert sheet.shown == 2 and sheet.unavailable == ((last["image"], files[last["image_sha256"]]),)
    picture = np.asarray(Image.open(sheet.path).convert("RGB")).astype(int)
    top = 22 + 18  # header, then the row's title
    # three images, two per side at most: ranks 1 and 2 on the left, rank 3 alone on the right after the gap
    tile = picture[top : top + TILE, 4 : 4 + TILE]
    expected = np.asarray(ImageOps.fit(Image.open(paths[int(first["image_sha256"], 16)]).convert("RGB"), (TILE, TILE)))
    assert np.abs(tile - expected.astype(int)).max() <= 1
    right = 4 + 2 * (TILE + 4) + 16
    grey = picture[top : top + 40, right : right + TILE]
    assert (grey == 200).all()


def test_report_writes_rankings_and_contact_sheets_and_names_unavailable_images(tmp_path):
    df = study_frame(images=4, seeds=3, ratios=(0.5, 0.75), shift=(0.01, -0.01))
    store_runs(tmp_path, df)  # the manifest records /data/im*.png, which do not exist
    done = run_cli("report", "run-a", "--out", str(tmp_path), "--metric", "mse")
    assert done.returncode == 0, done.stderr
    folder = Path(done.stdout.strip().splitlines()[-1].removeprefix("report folder: "))
    for metric in ("loss", "mse", "psnr"):
        ranking = pd.read_csv(folder / f"ranking_{metric}.csv", dtype={"image_sha256": str})
        assert list(ranking.columns) == list(RANKING_COLUMNS) and len(ranking) == 8
        pd.testing.assert_frame_equal(ranking, rank_images(df, metric), check_dtype=False)
        assert Image.open(folder / f"contact_sheet_{metric}.png").format == "PNG"
    for i in range(4):
        note = f"note: image im{i}.png is unavailable on the contact sheets: image 'im{i}.png' of run run-a is gone"
        assert note in done.stdout


def test_a_metric_only_one_checkpoint_carries_is_left_out_of_the_rankings_with_a_note(tmp_path):
    df = study_frame(images=3, seeds=2, ratios=(0.75,), shift=(0.01,))
    df["ssim"] = np.where(df["checkpoint"] == "tiny-pixel", 0.5, np.nan)  # only the pixel run computed ssim
    store_runs(tmp_path, df)
    done = run_cli("report", "run-a", "--out", str(tmp_path), "--metric", "mse")
    assert done.returncode == 0, done.stderr
    folder = Path(done.stdout.strip().splitlines()[-1].removeprefix("report folder: "))
    assert (folder / "ranking_mse.csv").is_file() and not (folder / "ranking_ssim.csv").exists()
    assert "note: no ranking of ssim: checkpoint 'tiny-gan' is not in these runs" in done.stdout


def test_only_the_images_a_sheet_shows_are_looked_for():
    df = study_frame(images=10, seeds=2, ratios=(0.5, 0.75), shift=(0.01, -0.01))
    ranking = rank_images(df, "loss")
    expected = set()
    for _, group in ranking.groupby(["mask", "mask_ratio"]):
        expected |= set(group["image_sha256"].head(4)) | set(group["image_sha256"].tail(4))
    assert sheet_images(ranking) == expected
    one = ranking[ranking["mask_ratio"] == 0.5]
    assert len(sheet_images(one)) == 8  # 4 largest and 4 smallest of 10
