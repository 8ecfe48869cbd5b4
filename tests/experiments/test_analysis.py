"""Summaries, paired differences, the plot, and the t quantiles behind the intervals."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from experiments.analysis import (
    pair_checkpoints,
    paired_difference,
    plot_metric,
    summarize,
    t_quantile,
    t_two_sided_p,
    write_report,
)


def study(shift: float = 0.1, images: int = 4, seeds: int = 3, ratios=(0.5, 0.75), loss_types=("pixel", "gan")):
    """Rows of a fake study: the second checkpoint's loss is the first's plus ``shift`` plus small noise."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(images):
        for s in range(seeds):
            for r in ratios:
                base = 0.3 + r + 0.05 * i + 0.01 * s
                for name, loss_type, value in (
                    ("ck-b", loss_types[1], base + shift + rng.normal(0, 0.01)),
                    ("ck-a", loss_types[0], base),
                ):
                    rows.append(
                        {
                            "run_id": "r1",
                            "image": f"im{i}.png",
                            "image_sha256": f"{i:064d}",
                            "checkpoint": name,
                            "loss_type": loss_type,
                            "mask_ratio": r,
                            "seed": s,
                            "masked_patches": int(196 * r),
                            "loss": value,
                            "mse": value / 10,
                            "psnr": 10 * math.log10(10 / value),
                        }
                    )
    return pd.DataFrame(rows)


def test_t_quantiles_match_scipy():
    stats = pytest.importorskip("scipy.stats")
    for df in (1, 2, 4, 9, 30, 200):
        assert t_quantile(0.95, df) == pytest.approx(stats.t.ppf(0.975, df), rel=1e-9)
        assert t_two_sided_p(1.7, df) == pytest.approx(2 * stats.t.sf(1.7, df), rel=1e-9)
    assert t_quantile(0.95, 1) == pytest.approx(12.7062, abs=1e-4)


def test_summary_per_checkpoint_and_ratio():
    df = study()
    summary = summarize(df, "loss")
    assert list(summary["checkpoint"].unique()) == ["ck-b", "ck-a"]  # order of appearance
    row = summary[(summary["checkpoint"] == "ck-a") & (summary["mask_ratio"] == 0.5)].iloc[0]
    values = df[(df["checkpoint"] == "ck-a") & (df["mask_ratio"] == 0.5)]["loss"].to_numpy()
    assert row["n"] == 12
    assert row["mean"] == pytest.approx(values.mean())
    assert row["std"] == pytest.approx(values.std(ddof=1))
    half = t_quantile(0.95, 11) * values.std(ddof=1) / math.sqrt(12)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((values.mean() - half, values.mean() + half))
    assert row["loss_type"] == "pixel"


def test_a_single_observation_has_no_interval():
    summary = summarize(study(images=1, seeds=1), "mse")
    assert (summary["n"] == 1).all() and summary["ci_low"].isna().all()


def test_paired_difference_is_gan_minus_pixel_on_identical_masks():
    df = study(shift=0.1)
    paired = paired_difference(df, "loss")
    assert set(paired["a"]) == {"ck-a"} and set(paired["b"]) == {"ck-b"}  # by loss type, not by order
    assert paired["n"].tolist() == [12, 12]
    assert paired["mean"].to_numpy() == pytest.approx([0.1, 0.1], abs=0.01)
    assert (paired["ci_low"] < 0.1).all() and (paired["ci_high"] > 0.1).all()
    assert (paired["ci_high"] - paired["ci_low"] < 0.03).all()  # pairing removes the image-to-image spread
    assert (paired["p_value"] < 1e-6).all()
    # explicit order flips the sign
    flipped = paired_difference(df, "loss", a="ck-b", b="ck-a")
    assert flipped["mean"].to_numpy() == pytest.approx(-paired["mean"].to_numpy())


def test_pairing_falls_back_to_checkpoint_order_without_loss_types():
    df = study(loss_types=("unknown", "unknown"))
    assert pair_checkpoints(df) == ("ck-b", "ck-a")
    df3 = pd.concat([df, df.assign(checkpoint="ck-c")])
    with pytest.raises(ValueError, match="cannot tell which checkpoints"):
        pair_checkpoints(df3)
    with pytest.raises(ValueError, match="not in these runs"):
        paired_difference(df, "loss", a="nope", b="ck-a")


def test_rows_from_different_masks_do_not_pair():
    df = study()
    df.loc[df["checkpoint"] == "ck-b", "seed"] += 100
    with pytest.raises(ValueError, match="no pairs"):
        paired_difference(df, "loss")


def test_bad_metric_and_empty_table_are_explained():
    with pytest.raises(ValueError, match="unknown metric 'ssim'"):
        summarize(study(), "ssim")
    with pytest.raises(ValueError, match="no rows"):
        summarize(study().iloc[:0], "loss")


def test_plot_has_one_line_and_band_per_checkpoint(tmp_path):
    path = tmp_path / "plot.png"
    figure = plot_metric(study(), "psnr", path)
    assert isinstance(figure, Figure)
    ax = figure.axes[0]
    assert [line.get_label() for line in ax.get_lines()] == ["ck-b (gan)", "ck-a (pixel)"]
    assert len(ax.collections) == 2  # the confidence bands
    assert list(ax.get_lines()[1].get_xdata()) == [0.5, 0.75]
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_files(tmp_path):
    report = write_report(study(), tmp_path / "report", "mse")
    names = sorted(p.name for p in report.files)
    assert names == ["mse_vs_ratio.png", "paired_mse.csv", "report_mse.txt", "summary_mse.csv"]
    assert all(p.exists() for p in report.files)
    assert "paired difference ck-b - ck-a" in report.text
    assert len(pd.read_csv(tmp_path / "report" / "summary_mse.csv")) == 4
