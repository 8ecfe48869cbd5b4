"""Image-clustered summaries and paired tests, checked against tables computed independently with scipy here."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from scipy import stats

from experiments.analysis import (
    IMAGE_GAP_COLUMNS,
    PAIRED_COLUMNS,
    SUMMARY_COLUMNS,
    holm_adjust,
    image_gaps,
    pair_checkpoints,
    paired_difference,
    summarize,
)
from tests.experiments.helpers import expected_holm, expected_summary_row, study_frame


def check_summary(df: pd.DataFrame, summary: pd.DataFrame, metric: str = "loss") -> None:
    for row in summary.itertuples():
        expected = expected_summary_row(df, row.checkpoint, row.mask_ratio, metric)
        for name, value in expected.items():
            got = getattr(row, name)
            assert got == (pytest.approx(value, rel=1e-9) if isinstance(value, float) else value), name


def test_summary_is_over_images_with_seeds_averaged_first():
    df = study_frame(images=6, seeds=3)
    summary = summarize(df, "loss")
    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    assert len(summary) == 2 * 3
    assert list(dict.fromkeys(summary["checkpoint"])) == ["tiny-pixel", "tiny-gan"]  # order of appearance
    assert set(summary["ci_over"]) == {"images"} and set(summary["n_images"]) == {6}
    assert set(summary["n_seeds"]) == {3} and set(summary["mask"]) == {"random"}
    check_summary(df, summary)
    # images x seeds as independent rows would give a much narrower interval: the clustering matters here
    row = summary.iloc[0]
    rows = df[(df["checkpoint"] == row["checkpoint"]) & (df["mask_ratio"] == row["mask_ratio"])]["loss"]
    naive = stats.t.ppf(0.975, len(rows) - 1) * stats.sem(rows)
    assert row["ci_high"] - row["mean"] > 1.5 * naive


def test_duplicated_rows_do_not_change_n_or_the_interval():
    df = study_frame(images=5, seeds=2)
    twice = pd.concat([df, df.assign(run_id="run-b")], ignore_index=True)
    pd.testing.assert_frame_equal(summarize(twice, "mse"), summarize(df, "mse"))
    pd.testing.assert_frame_equal(paired_difference(twice, "mse"), paired_difference(df, "mse"))


def test_a_single_image_gets_an_interval_over_its_seeds():
    df = study_frame(images=1, seeds=4)
    summary = summarize(df, "psnr")
    assert set(summary["ci_over"]) == {"seeds"} and set(summary["n_images"]) == {1}
    check_summary(df, summary, "psnr")
    paired = paired_difference(df, "psnr")
    for row in paired.itertuples():
        part = df[df["mask_ratio"] == row.mask_ratio].pivot_table(index="seed", columns="checkpoint", values="psnr")
        diffs = (part["tiny-gan"] - part["tiny-pixel"]).to_numpy()
        low, high = stats.t.interval(0.95, len(diffs) - 1, loc=diffs.mean(), scale=stats.sem(diffs))
        assert row.n_images == 1 and (row.ci_low, row.ci_high) == pytest.approx((low, high), rel=1e-9)
        assert row.p_ttest == pytest.approx(stats.ttest_rel(part["tiny-gan"], part["tiny-pixel"]).pvalue, rel=1e-9)
        assert row.p_wilcoxon == pytest.approx(stats.wilcoxon(diffs).pvalue, rel=1e-9)


def test_unbalanced_points_are_over_the_images_they_have():
    df = study_frame(images=5, seeds=2)
    df = df[~((df["mask_ratio"] == 0.9) & df["image"].isin(["im0.png", "im1.png"]))]
    summary = summarize(df, "loss")
    assert summary.set_index(["checkpoint", "mask_ratio"])["n_images"].to_dict()[("tiny-gan", 0.9)] == 3
    check_summary(df, summary)


def test_paired_difference_matches_scipy_on_per_image_means():
    df = study_frame(images=8, seeds=3, shift=(0.02, 0.0, -0.03))
    paired = paired_difference(df, "loss")
    assert list(paired.columns) == list(PAIRED_COLUMNS)
    assert set(paired["a"]) == {"tiny-pixel"} and set(paired["b"]) == {"tiny-gan"}  # by loss type
    for row in paired.itertuples():
        part = df[df["mask_ratio"] == row.mask_ratio]
        means = part.pivot_table(index="image_sha256", columns="checkpoint", values="loss")  # mean over seeds
        a, b = means["tiny-pixel"].to_numpy(), means["tiny-gan"].to_numpy()
        diffs = b - a
        low, high = stats.t.interval(0.95, len(diffs) - 1, loc=diffs.mean(), scale=stats.sem(diffs))
        assert row.n_images == 8
        assert row.mean_diff == pytest.approx(diffs.mean(), rel=1e-9)
        assert (row.ci_low, row.ci_high) == pytest.approx((low, high), rel=1e-9)
        assert row.p_ttest == pytest.approx(stats.ttest_1samp(diffs, 0.0).pvalue, rel=1e-9)
        assert row.p_wilcoxon == pytest.approx(stats.wilcoxon(diffs).pvalue, rel=1e-9)
        assert row.effect_size == pytest.approx(diffs.mean() / diffs.std(ddof=1), rel=1e-9)
    assert paired["p_holm"].tolist() == pytest.approx(expected_holm(paired["p_ttest"].tolist()), rel=1e-12)
    assert paired.loc[paired["mask_ratio"] == 0.9, "ci_high"].item() < 0  # the shift is found
    flipped = paired_difference(df, "loss", a="tiny-gan", b="tiny-pixel")
    assert flipped["mean_diff"].to_numpy() == pytest.approx(-paired["mean_diff"].to_numpy())


def test_holm_is_per_mask_across_its_ratios():
    df = study_frame(images=6, seeds=2, masks=("random", "block"))
    paired = paired_difference(df, "loss")
    assert len(paired) == 6
    for _, part in paired.groupby("mask"):
        assert part["p_holm"].tolist() == pytest.approx(expected_holm(part["p_ttest"].tolist()), rel=1e-12)


def test_holm_adjustment_known_values():
    assert holm_adjust([0.01, 0.04, 0.03, 0.005]).tolist() == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm_adjust([0.5, 0.6]).tolist() == [1.0, 1.0]  # capped at 1, monotone
    adjusted = holm_adjust([0.02, math.nan, 0.01])
    assert math.isnan(adjusted[1]) and adjusted[[0, 2]].tolist() == pytest.approx([0.02, 0.02])


def test_only_cells_with_the_same_mask_pair():
    df = study_frame(images=4, seeds=2, ratios=(0.5,), shift=(0.1,))
    other = (df["checkpoint"] == "tiny-gan") & (df["seed"] == 1)
    df.loc[other, "mask_hash"] = "something-else"  # e.g. another patch grid: not the identical mask
    pairs_one_seed = paired_difference(df, "loss")
    means = df[(df["seed"] == 0)].pivot_table(index="image", columns="checkpoint", values="loss")
    assert pairs_one_seed["mean_diff"].item() == pytest.approx((means["tiny-gan"] - means["tiny-pixel"]).mean())
    df.loc[df["checkpoint"] == "tiny-gan", "seed"] += 100
    with pytest.raises(ValueError, match="no pairs"):
        paired_difference(df, "loss")


def test_image_gaps_rank_images_by_their_paired_difference():
    df = study_frame(images=5, seeds=2, ratios=(0.5, 0.75), shift=(0.0, 0.0))
    gan = df["checkpoint"] == "tiny-gan"
    df.loc[gan & (df["image"] == "im3.png"), "loss"] += 0.5  # one image drives the gap
    df.loc[gan & (df["image"] == "im1.png") & (df["mask_ratio"] == 0.75) & (df["seed"] == 1), "loss"] -= 0.3
    gaps = image_gaps(df, "loss")
    assert list(gaps.columns) == list(IMAGE_GAP_COLUMNS)
    assert list(gaps["image"][:2]) == ["im3.png", "im1.png"]
    assert (gaps["a"] == "tiny-pixel").all() and (gaps["b"] == "tiny-gan").all() and (gaps["n_cells"] == 4).all()
    wide = df.pivot_table(index=["image", "mask_ratio", "seed"], columns="checkpoint", values="loss")
    expected = (wide["tiny-gan"] - wide["tiny-pixel"]).groupby(level="image").mean()
    for row in gaps.itertuples():
        assert row.mean_diff == pytest.approx(expected[row.image])
        assert row.mean_diff == pytest.approx(row.mean_b - row.mean_a)
    assert gaps["mean_diff"].abs().is_monotonic_decreasing
    second = gaps.iloc[1]
    assert second["largest_at"] == "random 0.75 seed 1" and second["largest_diff"] < -0.25


def test_legacy_rows_without_mask_hash_pair_by_seed_and_patch_count():
    df = study_frame(images=3, seeds=2, ratios=(0.5,), shift=(0.1,)).drop(columns=["mask", "mask_hash", "crop"])
    paired = paired_difference(df, "loss")
    assert paired["n_images"].item() == 3 and paired["mask"].item() == "random"


def test_checkpoint_pairing_defaults_and_choices():
    df = study_frame(images=2, seeds=1, ratios=(0.5,), shift=(0,))
    assert pair_checkpoints(df) == ("tiny-pixel", "tiny-gan")
    assert pair_checkpoints(df, b="tiny-pixel") == ("tiny-gan", "tiny-pixel")
    unknown = df.assign(loss_type="unknown")
    assert pair_checkpoints(unknown) == ("tiny-pixel", "tiny-gan")  # order of appearance
    third = df[df["checkpoint"] == "tiny-gan"].assign(checkpoint="c", checkpoint_sha256="c" * 64, loss_type="unknown")
    three = pd.concat([df, third])
    assert pair_checkpoints(three) == ("tiny-pixel", "tiny-gan")  # one pixel and one GAN checkpoint decide it
    assert pair_checkpoints(three, a="tiny-gan") == ("tiny-gan", "tiny-pixel")
    assert pair_checkpoints(three, a="c", b="tiny-gan") == ("c", "tiny-gan")
    with pytest.raises(ValueError, match="cannot tell which checkpoints"):
        pair_checkpoints(three, a="c")
    with pytest.raises(ValueError, match="cannot tell which checkpoints"):
        pair_checkpoints(three.assign(loss_type="unknown"))
    with pytest.raises(ValueError, match="not in these runs"):
        paired_difference(df, "loss", a="nope")
    with pytest.raises(ValueError, match="two different checkpoints"):
        pair_checkpoints(df, a="tiny-gan", b="tiny-gan")


def test_bad_input_is_explained():
    df = study_frame(images=2, seeds=1, ratios=(0.5,), shift=(0,))
    with pytest.raises(ValueError, match="unknown metric 'nope'"):
        summarize(df, "nope")
    with pytest.raises(ValueError, match="no rows"):
        summarize(df.iloc[:0], "loss")
    conflicting = pd.concat([df, df.assign(run_id="b", loss=df["loss"] + 1)], ignore_index=True)
    with pytest.raises(ValueError, match="4 cell.*different values"):
        summarize(conflicting, "loss")
    with pytest.raises(ValueError, match="did not compute ssim"):
        summarize(df, "ssim")  # a metric of METRIC_NAMES that these rows have no column for
    with pytest.raises(ValueError, match="did not compute psnr"):
        summarize(df.assign(psnr=float("nan")), "psnr")
