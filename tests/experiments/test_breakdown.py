"""breakdown.py and ``report --breakdown``: the first crossing interpolated between measured ratios, censoring both
ways, a bootstrap interval over seeds, the distribution per checkpoint and the paired Wilcoxon test; one-line
errors for a bad threshold."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from experiments.breakdown import (
    BREAKDOWN_COLUMNS,
    BREAKDOWN_PAIRED_COLUMNS,
    DIFFERENCE_COLUMNS,
    DISTRIBUTION_COLUMNS,
    breakdown_differences,
    breakdown_of_curves,
    breakdown_ratios,
    image_breakdown,
    parse_threshold,
)
from tests.experiments.helpers import run_cli, store_runs, study_frame

RATIOS = (0.5, 0.6, 0.7, 0.8, 0.9)


def _expected(curve: np.ndarray, ratios, op: str, value: float) -> tuple[float, str]:
    """The breakdown ratio of one seed-mean curve, written out the slow way."""
    for k, v in enumerate(curve):
        if (v < value) if op == "<" else (v > value):
            if k == 0:
                return ratios[0], "<="
            v0 = curve[k - 1]
            return ratios[k - 1] + (value - v0) / (v - v0) * (ratios[k] - ratios[k - 1]), ""
    return ratios[-1], ">"


def test_crossing_is_interpolated_and_censored_both_ways():
    ratios = np.array([0.5, 0.6, 0.7, 0.8])
    curves = np.array([[25, 22, 18, 15], [25, 24, 23, 21], [19, 18, 17, 16], [25, 20, 30, 10]], float)
    value, censored = breakdown_of_curves(curves, ratios, parse_threshold("psnr<20"))
    # the last curve: 20 at 0.6 is not below 20; it first crosses between 0.7 (30) and 0.8 (10), at 0.75
    assert value == pytest.approx([0.65, 0.8, 0.5, 0.75])
    assert list(censored) == ["", ">", "<=", ""]
    value, censored = breakdown_of_curves(np.array([[0.1, 0.3, 0.5, 0.7]]), ratios, parse_threshold("lpips>0.4"))
    assert value == pytest.approx([0.65]) and list(censored) == [""]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("psnr=20", "write METRIC<VALUE or METRIC>VALUE"),
        ("psnr<", "write METRIC<VALUE"),
        ("sharpness<3", "unknown metric 'sharpness'"),
    ],
)
def test_bad_thresholds_are_one_line_errors(text, message):
    with pytest.raises(ValueError, match=message):
        parse_threshold(text)


def test_per_image_breakdown_and_its_bootstrap_interval_over_seeds():
    df = study_frame(images=5, seeds=4, ratios=RATIOS, shift=(0.0,) * 5)
    table = breakdown_ratios(df, parse_threshold("psnr<10"))
    assert list(table.columns) == list(BREAKDOWN_COLUMNS) and len(table) == 10
    for row in table.itertuples():
        cells = df[(df["image"] == row.image) & (df["checkpoint"] == row.checkpoint)]
        curve = cells.groupby("mask_ratio")["psnr"].mean().to_numpy()
        value, censored = _expected(curve, RATIOS, "<", 10.0)
        assert row.breakdown_ratio == pytest.approx(value) and row.censored == censored
        assert row.n_seeds == 4
        assert row.ci_low <= row.breakdown_ratio + 1e-12 and row.breakdown_ratio <= row.ci_high + 1e-12
    again = breakdown_ratios(df, parse_threshold("psnr<10"))
    pd.testing.assert_frame_equal(table, again)  # seeded: the same report twice
    # seeds that agree exactly leave nothing to resample: the interval is the point
    flat = df.assign(psnr=df.groupby(["image", "checkpoint", "mask_ratio"])["psnr"].transform("mean"))
    still = breakdown_ratios(flat, parse_threshold("psnr<10"))
    assert (still["ci_low"] == still["breakdown_ratio"]).all() and (still["ci_high"] == still["breakdown_ratio"]).all()


def test_one_image_gets_the_rows_of_the_whole_table_and_a_paired_difference_with_its_interval():
    df = study_frame(images=5, seeds=4, ratios=RATIOS, shift=(0.05, 0.05, 0.08, 0.1, 0.1))
    threshold = parse_threshold("psnr<10")
    table = breakdown_ratios(df, threshold)
    differences = breakdown_differences(df, threshold, "tiny-pixel", "tiny-gan")
    assert list(differences.columns) == list(DIFFERENCE_COLUMNS) and len(differences) == 5
    side = table.pivot(index="image", columns="checkpoint", values="breakdown_ratio")
    for row in differences.itertuples():
        assert row.diff == pytest.approx(side.loc[row.image, "tiny-gan"] - side.loc[row.image, "tiny-pixel"])
        assert (row.a, row.b, row.n_seeds) == ("tiny-pixel", "tiny-gan", 4) and row.ci_low <= row.ci_high
        # each image's bootstrap is its own: the image alone gives the same numbers as in the whole table
        alone = image_breakdown(df, row.image, threshold, ("tiny-pixel", "tiny-gan"))
        want = table[table["image"] == row.image].reset_index(drop=True)
        pd.testing.assert_frame_equal(alone.ratios, want)
        pd.testing.assert_frame_equal(
            alone.differences, differences[differences["image"] == row.image].reset_index(drop=True)
        )
    # seeds that agree exactly: the paired interval is the point
    flat = df.assign(psnr=df.groupby(["image", "checkpoint", "mask_ratio"])["psnr"].transform("mean"))
    still = breakdown_differences(flat, threshold)
    assert (still["ci_low"] == still["diff"]).all() and (still["ci_high"] == still["diff"]).all()


@pytest.mark.parametrize(
    ("pixel", "gan", "bound"),
    [
        ((25, 18, 15), (25, 22, 18), ""),  # both cross: an exact difference
        ((25, 18, 15), (25, 24, 23), ">="),  # b never crosses: b - a is at least the value
        ((25, 24, 23), (25, 18, 15), "<="),  # a never crosses
        ((19, 18, 15), (25, 22, 18), ">="),  # a crosses at the first ratio: a's true value is lower still
        ((25, 24, 23), (25, 24, 23), "?"),  # neither crosses: either way
    ],
)
def test_a_censored_side_makes_the_difference_a_bound(pixel, gan, bound):
    ratios = (0.5, 0.6, 0.7)
    rows = study_frame(images=1, seeds=2, ratios=ratios, shift=(0.0,) * 3)
    curve = {"tiny-pixel": pixel, "tiny-gan": gan}
    rows["psnr"] = [float(curve[c][ratios.index(r)]) for c, r in zip(rows["checkpoint"], rows["mask_ratio"])]
    (row,) = breakdown_differences(rows, parse_threshold("psnr<20")).itertuples()
    assert row.censored == bound


def test_one_image_at_a_single_ratio_has_no_breakdown():
    df = study_frame(images=2, seeds=2, ratios=(0.75,), shift=(0.0,))
    with pytest.raises(
        ValueError, match="a breakdown needs at least 2 mask ratios; image 'im1.png' was measured at 0.75"
    ):
        image_breakdown(df, "im1.png", parse_threshold("psnr<10"))
    with pytest.raises(ValueError, match="hold no image 'nope.png'"):
        image_breakdown(df, "nope.png", parse_threshold("psnr<10"))


def _report(root: Path, *args: str):
    done = run_cli("report", "run-a", "--out", str(root), *args)
    return done


def test_report_breakdown_writes_the_distribution_histogram_and_paired_wilcoxon(tmp_path):
    df = study_frame(images=8, seeds=4, ratios=RATIOS, shift=(0.05, 0.05, 0.08, 0.1, 0.1))
    store_runs(tmp_path, df)
    done = _report(tmp_path, "--metric", "psnr", "--breakdown", "psnr<10")
    assert done.returncode == 0, done.stderr
    folder = Path(done.stdout.strip().splitlines()[-1].removeprefix("report folder: "))
    table = pd.read_csv(folder / "breakdown_psnr_lt_10.csv", keep_default_na=False)
    assert list(table.columns) == list(BREAKDOWN_COLUMNS) and len(table) == 16
    for row in table.itertuples():
        cells = df[(df["image"] == row.image) & (df["checkpoint"] == row.checkpoint)]
        value, censored = _expected(cells.groupby("mask_ratio")["psnr"].mean().to_numpy(), RATIOS, "<", 10.0)
        assert row.breakdown_ratio == pytest.approx(value) and row.censored == censored
    distribution = pd.read_csv(folder / "breakdown_distribution_psnr_lt_10.csv")
    assert list(distribution.columns) == list(DISTRIBUTION_COLUMNS)
    for row in distribution.itertuples():
        values = table[table["checkpoint"] == row.checkpoint]["breakdown_ratio"]
        assert row.median == pytest.approx(values.median()) and row.n_images == 8
        assert row.n_crossed + row.n_above + row.n_below == 8
    paired = pd.read_csv(folder / "breakdown_paired_psnr_lt_10.csv")
    assert list(paired.columns) == list(BREAKDOWN_PAIRED_COLUMNS)
    side = table.pivot(index="image", columns="checkpoint", values="breakdown_ratio")
    diff = side["tiny-gan"] - side["tiny-pixel"]
    (row,) = paired.itertuples()
    assert (row.a, row.b, row.n_images) == ("tiny-pixel", "tiny-gan", 8)
    assert row.median_diff == pytest.approx(diff.median()) and row.mean_diff == pytest.approx(diff.mean())
    assert row.p_wilcoxon == pytest.approx(stats.wilcoxon(diff.to_numpy()).pvalue)
    assert diff.mean() < 0  # the GAN checkpoint's loss is higher, so its PSNR falls below 10 dB earlier
    per_image = pd.read_csv(folder / "breakdown_differences_psnr_lt_10.csv", keep_default_na=False)
    assert list(per_image.columns) == list(DIFFERENCE_COLUMNS) and len(per_image) == 8
    assert per_image.set_index("image")["diff"].to_numpy() == pytest.approx(diff.loc[per_image["image"]].to_numpy())
    assert (folder / "breakdown_psnr_lt_10.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "breakdown ratio (psnr<10)" in done.stdout and "Wilcoxon" in done.stdout


def test_report_breakdown_errors_are_one_line_and_leave_no_folder(tmp_path):
    store_runs(tmp_path, study_frame(images=3, seeds=2, ratios=RATIOS, shift=(0.0,) * 5))
    for args, message in (
        (("--breakdown", "psnr=20"), "--breakdown: cannot read the breakdown threshold 'psnr=20'"),
        (("--breakdown", "lpips>0.4"), "no lpips values"),
    ):
        done = _report(tmp_path, *args)
        assert done.returncode == 2, done.stdout
        assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    reports = tmp_path / "reports"
    assert not reports.exists() or not any(reports.iterdir())


def test_report_at_a_single_ratio_says_a_breakdown_needs_two(tmp_path):
    store_runs(tmp_path, study_frame(images=3, seeds=2, ratios=(0.75,), shift=(0.0,)))
    done = _report(tmp_path, "--breakdown", "psnr<10")
    assert done.returncode == 0, done.stderr
    assert (
        "breakdown ratio (psnr<10): not computed: a breakdown needs at least 2 mask ratios; the selection was "
        "measured at 0.75 only" in done.stdout
    )
    folder = Path(done.stdout.strip().splitlines()[-1].removeprefix("report folder: "))
    assert (folder / "summary_loss.csv").exists() and not list(folder.glob("breakdown_*"))
