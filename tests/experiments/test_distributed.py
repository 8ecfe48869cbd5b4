"""The data-parallel sweep under torchrun: two CPU processes (gloo), sharded images, one merged CSV."""

from __future__ import annotations

import pytest

from experiments.config import SweepConfig
from experiments.distributed import backend_for, rank_device, shard
from experiments.store import list_runs, load_runs
from experiments.sweep import run_sweep
from tests.experiments.helpers import run_torchrun, write_images

CELL = ["image", "checkpoint", "mask_ratio", "seed"]


def test_shards_cover_every_image_once():
    items = list(range(11))
    parts = [shard(items, r, 3) for r in range(3)]
    assert sorted(x for p in parts for x in p) == items
    assert [len(p) for p in parts] == [4, 4, 3]


def test_device_and_backend_per_rank():
    assert rank_device("cuda", 3) == "cuda:3"
    assert rank_device("cpu", 3) == "cpu"
    assert backend_for("cuda:1") == "nccl" and backend_for("cpu") == "gloo"


@pytest.mark.slow
def test_torchrun_two_processes_merge_into_one_run(tmp_path, checkpoint_pair):
    folder = tmp_path / "imgs"
    write_images(folder, 5)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    root = tmp_path / "runs"
    done = run_torchrun(
        "sweep", "--images", str(folder), "--checkpoints", *checkpoint_pair, "--ratios", "0.5,0.75", "--seeds", "0-1",
        "--device", "cpu", "--out", str(root), "--no-progress", timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (manifest,) = list_runs(root)
    run_dir = root / manifest.run_id
    assert "(2 ranks)" in done.stdout
    assert manifest.status == "finished"
    assert [e.image.rsplit("/", 1)[-1] for e in manifest.errors] == ["broken.png"]
    assert not list(run_dir.glob("losses.rank*.csv")), "rank shards were not merged away"
    df = load_runs([manifest.run_id], root=root)
    assert len(df) == 5 * 2 * 2 * 2 == manifest.rows
    assert not df.duplicated(CELL).any()

    # the same study in one process gives the same numbers: sharding changes nothing but the speed
    config = SweepConfig(
        images=(str(folder),), checkpoints=checkpoint_pair, ratios=(0.5, 0.75), seeds=(0, 1), device="cpu"
    )
    single = load_runs([run_sweep(config, root=tmp_path / "single").run_id], root=tmp_path / "single")
    joined = df.merge(single, on=CELL, suffixes=("", "_single"))
    assert len(joined) == len(df)
    assert (joined["masked_patches"] == joined["masked_patches_single"]).all()
    assert joined["loss"].to_numpy() == pytest.approx(joined["loss_single"].to_numpy(), rel=1e-5)
