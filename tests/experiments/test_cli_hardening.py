"""What a new user's trial broke, each through ``python -m experiments`` in a subprocess: one clear line, the
documented exit code, nothing lost."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from experiments.store import load_runs
from tests.conftest import make_image
from tests.experiments.helpers import huge_png, run_cli


def one_line_usage_error(done, *needles: str) -> None:
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    for needle in needles:
        assert needle in done.stderr, done.stderr


@pytest.mark.parametrize(
    ("seeds", "message"),
    [
        ("0-9999999999", "10,000,000,000 seeds; a sweep takes at most 10,000"),
        ("0-1180591620717411303424", "seed must lie in [0, 2**63)"),
        ("0-2**70", "'0-2**70' is not a range like 0-4"),
    ],
)
def test_seed_ranges_are_bounded(tmp_path, seeds, message):
    done = run_cli("sweep", "--images", str(tmp_path), "--checkpoints", "x", "--seeds", seeds, "--out", str(tmp_path))
    one_line_usage_error(done, message)


def test_devices_this_machine_cannot_use_are_one_line(tmp_path, checkpoint_pair):
    make_image(seed=0).save(tmp_path / "a.png")
    unusable = ["tpu", "meta", "cuda:99" if torch.cuda.is_available() else "cuda"]
    for device in unusable:
        done = run_cli(
            "sweep", "--images", str(tmp_path / "a.png"), "--checkpoints", checkpoint_pair[0], "--device", device,
            "--out", str(tmp_path / "runs"), "--no-progress",
        )  # fmt: skip
        one_line_usage_error(done, repr(device))
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())  # no run folder left behind


def float_tiff(path: Path, values: np.ndarray) -> None:
    Image.fromarray(values.astype(np.float32), "F").save(path)


def test_names_round_trip_floats_bombs_umask_and_resume(tmp_path, checkpoint_pair):
    folder = tmp_path / "imgs"
    folder.mkdir()
    tricky = ["a\nb.png", "a\\nb.png", "=x.png", "'=x.png"]  # pairs that used to share one CSV cell
    for i, name in enumerate(tricky):
        make_image(seed=i).save(folder / name)
    overshoot = np.full((32, 32), 0.5)
    overshoot[0, 0] = 1.0001  # bicubic ringing of an image in [0, 1]
    float_tiff(folder / "unit.tif", overshoot)
    float_tiff(folder / "bytes.tif", np.full((32, 32), 200.0))  # 0-255 data in a float file
    (folder / "bomb.png").write_bytes(huge_png())
    root = tmp_path / "runs"
    command = ["--images", str(folder), "--checkpoints", *checkpoint_pair, "--ratios", "0.5", "--seeds", "0-1"]
    previous = os.umask(0o002)  # a store shared by a group
    try:
        done = run_cli("sweep", *command, "--out", str(root), "--no-progress")
    finally:
        os.umask(previous)
    assert done.returncode == 3, done.stderr  # finished, two images skipped
    (run_dir,) = [p for p in root.iterdir() if p.is_dir()]
    assert stat.S_IMODE((run_dir / "manifest.json").stat().st_mode) == 0o664  # umask's mode, not mkstemp's 0600
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["schema_version"] == 4 and manifest["status"] == "finished"
    reasons = {Path(e["path"]).name: e["reason"] for e in manifest["errors"]}
    assert set(reasons) == {"bytes.tif", "bomb.png"}
    assert "a float image must hold values in [0, 1]" in reasons["bytes.tif"] and "divide" in reasons["bytes.tif"]
    assert "over the limit of 64,000,000 pixels" in reasons["bomb.png"]
    df = load_runs(run_dir.name, root=root)
    names = {Path(name).name for name in df["image"]}
    assert names == {*tricky, "unit.tif"} and len(df) == 5 * 2 * 2  # every image its own cells
    assert df.groupby("image").size().eq(4).all()
    assert set(df["mask"]) == {"random"} and df["mask_hash"].str.len().eq(16).all() and not df["crop"].any()
    # the size the models saw, last column: the tiny test models are 32 px
    assert (run_dir / "losses.csv").read_text().splitlines()[0].endswith(",mask_hash,size,spread")
    assert set(df["size"]) == {32}

    again = run_cli("sweep", *command, "--resume", run_dir.name, "--out", str(root), "--no-progress")
    assert again.returncode == 3, again.stderr  # the same arguments are accepted; the same two images fail again
    assert "20 rows (0 new)" in again.stdout  # no image dropped or recomputed: names are unique
    differing = run_cli("sweep", *command[:-1], "0-2", "--crop", "--resume", run_dir.name, "--out", str(root))
    one_line_usage_error(
        differing, "--seeds asks for 0,1,2 where the run records 0,1", "--crop asks for True", "drop --seeds, --crop"
    )
    make_image(seed=9).save(folder / "=x.png")  # the content behind a measured name changes
    changed = run_cli("sweep", "--resume", run_dir.name, "--out", str(root), "--no-progress")
    one_line_usage_error(changed, "=x.png", "changed since run", "start a new run")


def test_a_run_where_every_image_failed_is_failed_and_names_no_csv(tmp_path, checkpoint_pair):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "empty.png").write_bytes(b"")
    (folder / "text.jpg").write_text("not an image")
    root = tmp_path / "runs"
    done = run_cli("sweep", "--images", str(folder), "--checkpoints", checkpoint_pair[0], "--out", str(root))
    assert done.returncode == 3, done.stderr
    (run_dir,) = [p for p in root.iterdir() if p.is_dir()]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "failed" and manifest["rows"] == 0 and len(manifest["errors"]) == 2
    assert "no image could be read" in manifest["fatal"]
    assert not (run_dir / "losses.csv").exists()
    assert "losses.csv" not in done.stdout + done.stderr
    assert f"run {run_dir.name}: failed, no rows: no image could be read" in done.stdout


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("--seeds", "seeds '': expected a comma-separated list without empty entries"),
        ("--ratios", "mask ratios '': expected a comma-separated list without empty entries"),
        ("--masks", "mask strategies '': expected a comma-separated list without empty entries"),
        ("--metrics", "metrics '': an empty entry; accepted: a comma list of"),
    ],
)
def test_an_empty_axis_is_a_usage_error_not_the_default(tmp_path, flag, message):
    done = run_cli("sweep", "--images", str(tmp_path), "--checkpoints", "x", flag, "", "--out", str(tmp_path / "r"))
    one_line_usage_error(done, f"error: sweep: {message}")
    assert not (tmp_path / "r").exists()


def test_the_metrics_error_lists_every_accepted_word(tmp_path):
    done = run_cli("sweep", "--images", str(tmp_path), "--checkpoints", "x", "--metrics", "ssim,sharpness")
    one_line_usage_error(done, "unknown metric 'sharpness'")
    accepted = done.stderr.split("accepted:", 1)[1]
    for word in ("loss", "mse", "psnr", "ssim", "lpips", "detail", "visible_loss", "spread", "all", "none"):
        assert re.search(rf"\b{word}\b", accepted), (word, accepted)
    usage = run_cli("sweep", "--help").stdout.rsplit("--metrics NAMES", 1)[1].split("--keep-images", 1)[0]
    for word in ("ssim", "lpips", "detail", "visible_loss", "spread", "all", "none"):  # the help names every word
        assert re.search(rf"\b{word}\b", usage), (word, usage)


def test_detail_of_a_one_pixel_image_stays_within_its_floor(tmp_path, checkpoint_pair):
    (tmp_path / "imgs").mkdir()
    Image.new("RGB", (1, 1), (120, 40, 200)).save(tmp_path / "imgs" / "dot.png")  # no gradient in the truth at all
    done = run_cli("sweep", "--images", str(tmp_path / "imgs"), "--checkpoints", *checkpoint_pair, "--ratios",
                   "0.5,0.75", "--seeds", "0-1", "--metrics", "detail", "--out", str(tmp_path / "runs"),
                   "--no-progress", timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    (csv,) = (tmp_path / "runs").glob("*/losses.csv")
    df = pd.read_csv(csv)
    assert len(df) == 8 and df["detail"].notna().all()
    # flat truth: the gradients are floored at one display level, so the invented texture reads as a small
    # multiple of it (8538 before the floor); never more than 255
    assert (df["detail"] >= 1.0).all() and (df["detail"] <= 255.0).all()
