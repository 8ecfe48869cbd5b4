"""Mask strategies as a study axis: the CLI's --masks, the CSV's mask and mask_hash, resume, torchrun, the report."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
from PIL import Image

from experiments.config import SweepConfig
from experiments.store import RunStore, list_runs, load_runs
from experiments.sweep import run_sweep
from mae_core.modeling.masking import mask_hash, mask_noise, random_masking
from tests.experiments.helpers import run_cli, run_torchrun, write_images

CELL = ["image", "checkpoint", "mask", "mask_ratio", "seed"]
MASKS = ("random", "block", "grid")
REPO_ROOT = Path(__file__).resolve().parents[2]


def expected_hash(strategy: str, seed: int, ratio: float, num_patches: int = 16) -> str:
    """The mask_hash of the removed set ``strategy`` gives ``seed`` at ``ratio`` (the tiny models' 4x4 grid)."""
    noise = mask_noise(seed, num_patches, strategy=strategy)
    return mask_hash(random_masking(torch.zeros(1, num_patches, 1), ratio, noise).mask[0])


def check_mask_columns(df: pd.DataFrame, masks: tuple[str, ...]) -> None:
    """Every strategy ran every cell; each row's hash is its strategy's mask; both checkpoints saw the same one."""
    assert set(df["mask"]) == set(masks)
    assert not df.duplicated(CELL).any()
    for row in df.itertuples():
        assert row.mask_hash == expected_hash(row.mask, row.seed, row.mask_ratio), row
        assert row.masked_patches == 16 - int(16 * (1 - row.mask_ratio))
    per_cell = df.groupby(["image", "mask", "mask_ratio", "seed"])["mask_hash"].nunique()
    assert (per_cell == 1).all()  # the paired comparison is provably on identical masks
    per_strategy = df.groupby(["image", "mask_ratio", "seed"])["mask_hash"].nunique()
    assert (per_strategy == len(masks)).all()  # and the strategies really are different masks


def test_cli_sweep_with_three_strategies_then_report(tmp_path, checkpoint_pair):
    write_images(tmp_path / "imgs", 2)
    root = tmp_path / "runs"
    done = run_cli(
        "sweep",
        "--images",
        str(tmp_path / "imgs"),
        "--checkpoints",
        *checkpoint_pair,
        "--ratios",
        "0.5,0.75",
        "--seeds",
        "0-1",
        "--masks",
        ",".join(MASKS),
        "--out",
        str(root),
        "--no-progress",
    )
    assert done.returncode == 0, done.stderr
    (manifest,) = list_runs(root)
    assert manifest.config.masks == MASKS
    df = load_runs([manifest.run_id], root=root)
    assert len(df) == manifest.rows == manifest.cells == 2 * 2 * 3 * 2 * 2
    check_mask_columns(df, MASKS)
    listed = run_cli("runs", "--out", str(root))
    assert listed.returncode == 0 and listed.stdout.splitlines()[1].split()[-1] == ",".join(MASKS)

    report = run_cli("report", manifest.run_id, "--out", str(root), "--metric", "mse")
    assert report.returncode == 0, report.stderr
    (paired_csv,) = (root / "reports").glob("*/paired_mse.csv")
    paired = pd.read_csv(paired_csv)
    assert sorted(zip(paired["mask"], paired["mask_ratio"])) == sorted((m, r) for m in MASKS for r in (0.5, 0.75))
    (summary_csv,) = (root / "reports").glob("*/summary_mse.csv")
    assert len(pd.read_csv(summary_csv)) == 2 * 3 * 2  # checkpoint x mask x ratio
    (figure,) = (root / "reports").glob("*/mse_vs_ratio.png")
    with Image.open(figure) as png:
        assert png.height > 2 * 4.8 * 110  # faceted: a row of panels per mask (one mask: 4.8 inches at 110 dpi)


def test_default_sweep_is_random_only_and_bad_masks_are_usage_errors(tmp_path, checkpoint_pair):
    write_images(tmp_path / "imgs", 1)
    config = SweepConfig(images=(str(tmp_path / "imgs"),), checkpoints=checkpoint_pair[:1], seeds=(0, 1))
    df = load_runs([run_sweep(config, root=tmp_path / "runs").run_id], root=tmp_path / "runs")
    assert set(df["mask"]) == {"random"} and len(df) == 2
    check_mask_columns(df, ("random",))
    for bad in ("checkerboard", "random,,grid", "custom", ""):
        done = run_cli("sweep", "--images", str(tmp_path / "imgs"), "--checkpoints", checkpoint_pair[0], "--masks", bad)
        assert done.returncode == 2, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
        assert "mask" in done.stderr


def test_resume_fills_in_the_missing_cells_of_every_strategy(tmp_path, checkpoint_pair):
    write_images(tmp_path / "imgs", 2)
    root = tmp_path / "runs"
    config = SweepConfig(
        images=(str(tmp_path / "imgs"),),
        checkpoints=checkpoint_pair,
        ratios=(0.25, 0.75),
        seeds=(3,),
        masks=("grid", "block"),
        batch_size=3,
    )
    complete = run_sweep(config, root=root)
    full = load_runs([complete.run_id], root=root)
    losses = Path(complete.run_dir) / "losses.csv"
    lines = losses.read_text().splitlines(keepends=True)
    losses.write_text("".join(lines[:6]) + lines[6][:20])  # as a killed sweep leaves it: 5 rows and a torn line
    RunStore(root).open(complete.run_id).update_manifest(status="interrupted")
    resumed = run_sweep(None, root=root, resume=complete.run_id)
    assert resumed.status == "finished" and resumed.written == len(full) - 5
    again = load_runs([complete.run_id], root=root)
    assert len(again) == len(full) == 2 * 2 * 2 * 2 * 1
    check_mask_columns(again, ("grid", "block"))
    merged = again.merge(full, on=CELL, suffixes=("", "_first"))
    assert (merged["mask_hash"] == merged["mask_hash_first"]).all()
    assert merged["loss"].to_numpy() == pytest.approx(merged["loss_first"].to_numpy(), rel=1e-5)


def test_torchrun_sweep_shards_images_across_strategies(tmp_path, checkpoint_pair):
    write_images(tmp_path / "imgs", 3)
    root = tmp_path / "runs"
    arguments = ["--images", str(tmp_path / "imgs"), "--checkpoints", *checkpoint_pair, "--ratios", "0.5"]
    arguments += ["--seeds", "0-1", "--masks", "random,grid", "--device", "cpu", "--out", str(root), "--no-progress"]
    done = run_torchrun("sweep", *arguments, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    (manifest,) = list_runs(root)
    df = load_runs([manifest.run_id], root=root)
    assert len(df) == manifest.rows == 3 * 2 * 2 * 1 * 2
    check_mask_columns(df, ("random", "grid"))
