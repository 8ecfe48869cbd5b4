"""examples/paper_check.py (docs/paper-check.md), run as a user runs it: per-strategy means, each image's order and
the paired strategy comparisons, computed from a run's rows; a run without the three strategies is one line."""

from __future__ import annotations

import subprocess
import sys

import pytest
from scipy import stats

from tests.experiments.helpers import REPO_ROOT, cli_env, store_runs, study_frame


def _paper_check(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "examples.paper_check", *args],
        cwd=REPO_ROOT,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_strategy_means_orders_and_paired_comparisons(tmp_path):
    df = study_frame(images=5, seeds=3, ratios=(0.75,), shift=(0.0,), masks=("grid", "random", "block"))
    # grid easiest, block hardest, except image im4 where random is easier than grid
    offset = df["mask"].map({"grid": 0.0, "random": 0.02, "block": 0.08})
    offset[(df["image"] == "im4.png") & (df["mask"] == "grid")] = 0.05
    df["mse"] = df["mse"] + offset
    store_runs(tmp_path, df)
    done = _paper_check("run-a", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "tiny-pixel: grid < random < block (matches the paper's grid < random < block)" in text
    assert "im4.png" in text and "random < grid < block" in text
    per_image = df.groupby(["checkpoint", "image", "mask"])["mse"].mean().unstack()
    pixel = per_image.loc["tiny-pixel"]
    diff = pixel["random"] - pixel["grid"]
    line = next(row for row in text.splitlines() if "tiny-pixel" in row and "random - grid" in row)
    fields = line.split()
    assert float(fields[5]) == pytest.approx(diff.mean(), rel=1e-3)  # mean_diff
    assert float(fields[-2]) == pytest.approx(stats.wilcoxon(pixel["random"], pixel["grid"]).pvalue, rel=1e-3)
    assert fields[-1] == "4/5"
    assert f"{pixel['block'].mean():.4g}" in text


def test_a_run_without_the_three_strategies_is_one_line(tmp_path):
    store_runs(tmp_path, study_frame(images=2, seeds=2, ratios=(0.75,), shift=(0.0,)))
    done = _paper_check("run-a", "--out", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip() == "error: the run did not sweep grid, block: sweep with --masks random,block,grid"
