"""Replaying rows of a run: the numbers equal the CSV's, the image is found again or refused clearly."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments.replay import ReplayError, measured_masks, replay
from experiments.run_images import ImageChangedError, keep_image
from experiments.store import LEGACY_COLUMNS, Run
from experiments.sweep import SweepConfig, run_sweep
from mae_core.checkpoints.checkpoint_files import save_checkpoint
from mae_core.checkpoints.loading import load_model
from mae_core.files import file_sha256
from mae_core.options import METRIC_NAMES
from tests.conftest import make_model
from tests.experiments.helpers import write_images

RATIOS = (0.25, 0.5, 0.75)
SEEDS = (3, 4)


def sweep_run(
    tmp_path: Path, checkpoint_pair, dtype: str = "float32", crop: bool = False, masks: tuple[str, ...] = ("random",)
) -> Run:
    images = write_images(tmp_path / "photos", 3)
    config = SweepConfig(
        images=(str(tmp_path / "photos"),),
        checkpoints=checkpoint_pair,
        ratios=RATIOS,
        seeds=SEEDS,
        dtype=dtype,
        crop=crop,
        masks=masks,
        batch_size=5,  # batches that mix images, ratios and seeds
    )
    result = run_sweep(config, root=tmp_path / "runs", models={name: load_model(name) for name in checkpoint_pair})
    assert result.status == "finished" and len(images) == 3
    return Run(result.run_dir)


def csv_rows(run: Run) -> pd.DataFrame:
    return pd.read_csv(run.losses_path)


@pytest.mark.parametrize(("dtype", "tolerance"), [("float32", 1e-5), ("bfloat16", 0.0)])
def test_replayed_metrics_equal_the_runs_csv(tmp_path, checkpoint_pair, dtype, tolerance):
    run = sweep_run(tmp_path, checkpoint_pair, dtype=dtype, crop=True)
    image = f"{tmp_path / 'photos'}/img001.png"
    replayed = replay(run, image, seed=SEEDS[1], models=load_model)
    assert replayed.dtype == dtype and replayed.crop is True and replayed.image.copy is False
    assert len(replayed.cells) == len(RATIOS) * 2
    rows = csv_rows(run)
    for cell in replayed.cells:
        row = rows[
            (rows["image"] == image)
            & (rows["checkpoint"] == cell.checkpoint)
            & (rows["mask_ratio"] == cell.mask_ratio)
            & (rows["seed"] == SEEDS[1])
        ]
        assert len(row) == 1
        # the metrics the row carries, no fewer and no more (the run's default optional ones among them)
        carried = {name for name in METRIC_NAMES if pd.notna(row[name].iloc[0])}
        assert set(cell.metrics) == carried and {"loss", "ssim", "detail", "visible_loss"} <= carried
        for name, value in cell.metrics.items():
            assert abs(value - float(row[name].iloc[0])) <= tolerance, (cell.checkpoint, name)
        assert cell.difference() <= tolerance
        assert cell.record.masked_patches == int(row["masked_patches"].iloc[0])
        # the pictures come from the same mask: the eye sees what the numbers measured
        assert int(cell.reconstruction.mask.sum()) == cell.record.masked_patches
    # both checkpoints of a ratio saw the same mask
    for ratio in RATIOS:
        a, b = (replayed.cell(name, ratio) for name in checkpoint_pair)
        np.testing.assert_array_equal(a.reconstruction.mask, b.reconstruction.mask)
        assert a.record.mask_hash == b.record.mask_hash


def test_one_cell_by_file_name_ratio_and_mask(tmp_path, checkpoint_pair):
    run = sweep_run(tmp_path, checkpoint_pair)
    replayed = replay(
        run.run_id, "img002.png", seed=SEEDS[0], ratios=[0.5], mask="random", models=load_model, root=tmp_path / "runs"
    )
    assert [(c.checkpoint, c.mask_ratio, c.mask) for c in replayed.cells] == [
        (checkpoint_pair[0], 0.5, "random"),
        (checkpoint_pair[1], 0.5, "random"),
    ]
    assert replayed.image.name.endswith("photos/img002.png")


@pytest.mark.parametrize(
    ("image", "options", "message"),
    [
        ("img999.png", {}, "no such image"),
        ("img000.png", {"seed": 99}, "not measured at seed 99 in this run; its seeds: 3, 4"),
        ("img000.png", {"ratios": [0.6]}, "not measured at mask ratio 0.6 (seed 3) in this run; its ratios: 0.25"),
        ("img000.png", {"mask": "block"}, "not measured with the 'block' mask"),
        ("img000.png", {"mask": "diamond"}, "unknown mask strategy 'diamond'; accepted: random, block, grid"),
    ],
)
def test_cells_outside_the_run_are_refused(tmp_path, checkpoint_pair, image, options, message):
    run = sweep_run(tmp_path, checkpoint_pair)
    with pytest.raises(ReplayError, match=message.replace("(", r"\(").replace(")", r"\)")):
        replay(run, image, models=load_model, **{"seed": SEEDS[0], **options})


def test_a_moved_or_changed_image_gets_a_clear_message(tmp_path, checkpoint_pair):
    run = sweep_run(tmp_path, checkpoint_pair)
    photo = tmp_path / "photos" / "img000.png"
    moved = tmp_path / "elsewhere.png"
    shutil.move(photo, moved)
    with pytest.raises(ImageChangedError, match=f"image '.*img000.png' of run {run.run_id} is gone: {photo}"):
        replay(run, "img000.png", seed=SEEDS[0], models=load_model)
    other = tmp_path / "photos" / "img001.png"
    photo.write_bytes(other.read_bytes())  # another picture under the old name
    with pytest.raises(ImageChangedError, match="changed since it was measured"):
        replay(run, "img000.png", seed=SEEDS[0], models=load_model)
    shutil.move(moved, photo)
    assert replay(run, "img000.png", seed=SEEDS[0], ratios=[0.5], models=load_model).image.path == photo


def test_a_kept_copy_replays_after_the_original_is_gone(tmp_path, checkpoint_pair):
    run = sweep_run(tmp_path, checkpoint_pair)
    photo = tmp_path / "photos" / "img001.png"
    digest = file_sha256(photo)
    copy = keep_image(run, photo, digest)
    assert copy == run.path / "images" / f"{digest}.png" and keep_image(run, photo, digest) == copy
    before = replay(run, "img001.png", seed=SEEDS[0], models=load_model)
    photo.unlink()
    after = replay(run, "img001.png", seed=SEEDS[0], models=load_model)
    assert after.image.copy and after.image.path == copy
    assert [c.metrics for c in after.cells] == [c.metrics for c in before.cells]


def test_a_changed_checkpoint_is_refused(tmp_path, checkpoint_pair):
    pixel, gan = (tmp_path / "pixel.safetensors", tmp_path / "gan.safetensors")
    for source, target in zip(checkpoint_pair, (pixel, gan)):
        shutil.copyfile(source, target)
    run = sweep_run(tmp_path, (str(pixel), str(gan)))
    save_checkpoint(make_model(seed=7), pixel, loss_type="pixel")  # other weights under the run's name
    with pytest.raises(ReplayError, match=f"checkpoint '{pixel}' changed since run {run.run_id} used it"):
        replay(run, "img000.png", seed=SEEDS[0], models=load_model)


def rewrite_rows(run: Run, change) -> None:
    """Rewrite the run's CSV through ``change(frame) -> frame`` (cells as text, as written)."""
    frame = pd.read_csv(run.losses_path, dtype=str, keep_default_na=False)
    change(frame).to_csv(run.losses_path, index=False, lineterminator="\n")


def test_a_row_whose_mask_hash_differs_from_the_recreated_mask_is_refused(tmp_path, checkpoint_pair):
    run = sweep_run(tmp_path, checkpoint_pair)
    rows = csv_rows(run)
    assert rows["mask"].eq("random").all() and rows["mask_hash"].str.fullmatch("[0-9a-f]{16}").all()
    replay(run, "img000.png", seed=SEEDS[0], ratios=[0.5], models=load_model)  # the recorded masks re-create

    def tamper(frame: pd.DataFrame) -> pd.DataFrame:
        chosen = frame["image"].str.endswith("img000.png") & (frame["mask_ratio"] == "0.5")
        frame.loc[chosen, "mask_hash"] = "0123456789abcdef"
        return frame

    rewrite_rows(run, tamper)
    with pytest.raises(ReplayError, match="not the one its rows recorded .mask_hash 0123456789abcdef, re-created"):
        replay(run, "img000.png", seed=SEEDS[0], ratios=[0.5], models=load_model)


def test_a_run_of_the_first_store_schema_replays_as_random_masks_with_its_configs_crop(tmp_path, checkpoint_pair):
    run = sweep_run(tmp_path, checkpoint_pair, crop=True)
    expected = replay(run, "img002.png", seed=SEEDS[1], models=load_model)
    rewrite_rows(run, lambda frame: frame[list(LEGACY_COLUMNS)])  # no crop, mask, mask_hash columns
    run.update_manifest(schema_version=1)
    legacy = Run(run.path)
    assert legacy.schema == 1 and "mask" not in pd.read_csv(legacy.losses_path).columns
    replayed = replay(legacy, "img002.png", seed=SEEDS[1], models=load_model)
    assert replayed.crop is True and {c.mask for c in replayed.cells} == {"random"}
    assert [c.metrics for c in replayed.cells] == [c.metrics for c in expected.cells]
    assert max(c.difference() for c in replayed.cells) <= 1e-5
    with pytest.raises(ReplayError, match="not measured with the 'grid' mask in this run; masks: random"):
        replay(legacy, "img002.png", seed=SEEDS[1], mask="grid", models=load_model)


def test_each_mask_strategy_of_a_run_replays_its_own_rows(tmp_path, checkpoint_pair):
    run = sweep_run(tmp_path, checkpoint_pair, masks=("grid", "random", "block"))
    assert measured_masks(run, "img001.png", SEEDS[0]) == ("random", "block", "grid")
    rows = csv_rows(run)
    hashes = {}
    for mask in ("random", "block", "grid"):
        replayed = replay(run, "img001.png", seed=SEEDS[0], mask=mask, models=load_model)
        assert {c.mask for c in replayed.cells} == {mask} and len(replayed.cells) == len(RATIOS) * 2
        for cell in replayed.cells:
            (row,) = rows[
                rows["image"].str.endswith("img001.png")
                & (rows["checkpoint"] == cell.checkpoint)
                & (rows["mask"] == mask)
                & (rows["mask_ratio"] == cell.mask_ratio)
                & (rows["seed"] == SEEDS[0])
            ].itertuples()
            assert cell.record.mask_hash == row.mask_hash and cell.stored["loss"] == row.loss
            assert cell.difference() <= 1e-5
        hashes[mask] = replayed.cell(checkpoint_pair[0], 0.5, mask).record.mask_hash
    assert len(set(hashes.values())) == 3  # three different masks, each re-created as its rows recorded it


def test_the_replay_command_prints_recomputed_metrics_beside_the_csvs(tmp_path, checkpoint_pair):
    from tests.experiments.helpers import run_cli

    run = sweep_run(tmp_path, checkpoint_pair)
    done = run_cli("replay", run.run_id, "img002.png", "--ratio", "0.5", "--seed", str(SEEDS[0]),
                   "--out", str(tmp_path / "runs"), timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"run {run.run_id}, image {tmp_path / 'photos'}/img002.png read from ")
    assert lines[1].split() == ["CHECKPOINT", "RATIO", "METRIC", "CSV", "REPLAYED", "DIFFERENCE"]
    rows = csv_rows(run)
    rows = rows[(rows["image"].str.endswith("img002.png")) & (rows["mask_ratio"] == 0.5) & (rows["seed"] == SEEDS[0])]
    printed = [line.split() for line in lines[2:-1]]
    carried = rows[rows.columns.intersection(METRIC_NAMES)].notna().any()  # lpips and spread: not computed, empty
    assert len(printed) == 2 * int(carried.sum()) and not carried[["lpips", "spread"]].any()
    for checkpoint, ratio, metric, stored, replayed, _ in printed:
        (row,) = rows[rows["checkpoint"] == checkpoint].itertuples()
        assert ratio == "0.5" and float(stored) == pytest.approx(getattr(row, metric), rel=1e-5)
        assert float(replayed) == pytest.approx(float(stored), rel=1e-4, abs=1e-6)
    assert lines[-1].startswith("largest difference: ") and float(lines[-1].split()[-1]) < 1e-4

    missing = run_cli("replay", run.run_id, "img002.png", "--ratio", "0.6", "--seed", str(SEEDS[0]),
                      "--out", str(tmp_path / "runs"), timeout=300)  # fmt: skip
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert "was not measured at mask ratio 0.6" in missing.stderr and "its ratios: 0.25, 0.5, 0.75" in missing.stderr


def test_spread_is_not_replayed_and_never_counts_as_a_difference(tmp_path, checkpoint_pair):
    from tests.experiments.helpers import run_cli

    write_images(tmp_path / "photos", 2)
    config = SweepConfig(
        images=(str(tmp_path / "photos"),),
        checkpoints=checkpoint_pair,
        ratios=(0.5, 0.75),
        seeds=SEEDS,
        metrics=("ssim", "spread"),
    )
    result = run_sweep(config, root=tmp_path / "runs", models={name: load_model(name) for name in checkpoint_pair})
    run = Run(result.run_dir)
    assert csv_rows(run)["spread"].notna().all()
    replayed = replay(run, "img001.png", seed=SEEDS[0], models=load_model)
    assert replayed.not_replayed == ("spread",)
    for cell in replayed.cells:  # one seed's cell does not determine spread: neither side of the comparison has it
        assert "spread" not in cell.metrics and "spread" not in cell.stored
        assert set(cell.stored) == set(cell.metrics) == {"loss", "mse", "psnr", "ssim"}
        assert cell.difference() < 1e-4
    done = run_cli("replay", run.run_id, "img001.png", "--ratio", "0.5", "--seed", str(SEEDS[0]),
                   "--out", str(tmp_path / "runs"), timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == "spread is not replayed: it is measured over all the run's seeds, not one cell"
    assert lines[-2].startswith("largest difference: ") and float(lines[-2].split()[-1]) < 1e-4
    assert not any(line.split()[2:3] == ["spread"] for line in lines[1:-2])  # no spread row in the table
