"""The training recipe of the bundled pair, run end to end in smoke mode (64 px, a handful of steps)."""

from __future__ import annotations

import csv
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

from experiments.discriminator import PatchDiscriminator, discriminator_loss, generator_loss
from experiments.train import (
    CHECKPOINT_NAME,
    PIXEL_DONE_NAME,
    TRAIN_IMAGES,
    TrainConfig,
    cli,
    crop_box,
    load_weights,
    lr_at,
)

# one thread: the CI box has two cores and other tests; batch-size must stay third from the end (see below)
SMOKE = ["--steps", "3", "--gan-steps", "2", "--img-size", "64", "--threads", "1", "--batch-size", "2", "--no-progress"]


def _losses(run: Path) -> list[dict]:
    with open(run / "losses.csv") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def smoke_runs(tmp_path_factory) -> tuple[Path, Path]:
    """The same smoke run twice, in two folders; the first also exports the float16 pair."""
    root = tmp_path_factory.mktemp("train")
    first, second = root / "a", root / "b"
    assert cli([*SMOKE, "--out", str(first), "--export", str(root / "bundled")]) == 0
    assert cli([*SMOKE, "--out", str(second)]) == 0
    return first, second


def test_smoke_run_writes_loadable_checkpoints_and_curve(smoke_runs):
    run, _ = smoke_runs
    for name, loss_type in (("tiny-pixel", "pixel"), ("tiny-gan", "gan")):
        model = load_weights(run / f"{name}.safetensors")
        assert model.config.img_size == 64 and model.config.patch_size == 16
        with safe_open(str(run / f"{name}.safetensors"), framework="pt") as handle:
            assert handle.metadata()["loss_type"] == loss_type
        out = model(torch.zeros(1, 3, 64, 64), 0.75, torch.rand(1, 16, generator=torch.Generator().manual_seed(0)))
        assert out.pred.shape == (1, 16, 16 * 16 * 3) and torch.isfinite(out.loss).all()
    assert (run / "loss_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = _losses(run)
    assert [row["phase"] for row in rows] == ["pixel"] * 3 + ["gan"] * 2
    assert all(float(row["d_loss"]) > 0 for row in rows if row["phase"] == "gan")


def test_smoke_run_is_deterministic(smoke_runs):
    first, second = smoke_runs
    losses = [[(r["pixel_loss"], r["g_adv"], r["d_loss"]) for r in _losses(run)] for run in (first, second)]
    assert losses[0] == losses[1]
    assert len({row[0] for row in losses[0]}) > 1  # the loss actually moves between steps


def test_the_gan_model_differs_from_the_pixel_model(smoke_runs):
    run, _ = smoke_runs
    pixel = load_weights(run / "tiny-pixel.safetensors").state_dict()
    gan = load_weights(run / "tiny-gan.safetensors").state_dict()
    assert pixel.keys() == gan.keys()
    assert any(not torch.equal(pixel[k], gan[k]) for k in pixel)


def test_export_writes_float16_pair_and_sums(smoke_runs, tmp_path):
    bundled = smoke_runs[0].parent / "bundled"
    lines = (bundled / "SHA256SUMS").read_text().splitlines()
    assert [line.split("  ")[1] for line in lines] == ["tiny-gan.safetensors", "tiny-pixel.safetensors"]
    for line in lines:
        digest, name = line.split("  ")
        assert hashlib.sha256((bundled / name).read_bytes()).hexdigest() == digest
        with safe_open(str(bundled / name), framework="pt") as handle:
            assert handle.get_tensor("decoder_pred.weight").dtype == torch.float16


def test_resuming_from_the_pixel_phase_reproduces_the_run(smoke_runs, tmp_path):
    first, _ = smoke_runs
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    shutil.copyfile(first / PIXEL_DONE_NAME, resumed / CHECKPOINT_NAME)
    shutil.copyfile(first / "tiny-pixel.safetensors", resumed / "tiny-pixel.safetensors")
    assert cli([*SMOKE, "--out", str(resumed)]) == 0
    assert _losses(resumed) == [
        {**row, "seconds": new["seconds"]} for row, new in zip(_losses(first), _losses(resumed))
    ]


def test_resume_refuses_changed_pixel_settings(smoke_runs, tmp_path):
    first, _ = smoke_runs
    shutil.copytree(first, tmp_path / "run")
    with pytest.raises(ValueError, match="batch_size"):
        cli([*SMOKE[:-3], "--batch-size", "3", "--no-progress", "--out", str(tmp_path / "run")])


def test_bad_flags_exit_with_code_2(tmp_path, capsys):
    assert cli(["--img-size", "60", "--out", str(tmp_path)]) == 2
    assert "img_size" in capsys.readouterr().err


def test_crop_box_stays_inside_the_photo_and_follows_the_generator():
    boxes = [crop_box(300, 451, (0.08, 1.0), np.random.default_rng(7)) for _ in range(2)]
    assert boxes[0] == boxes[1]
    rng = np.random.default_rng(0)
    for _ in range(200):
        top, left, h, w = crop_box(300, 451, (0.08, 1.0), rng)
        assert 0 <= top and top + h <= 300 and 0 <= left and left + w <= 451
        assert 0.07 * 300 * 451 <= h * w <= 300 * 451


def test_learning_rate_warms_up_then_decays_to_the_floor():
    rates = [lr_at(s, 100, 1e-3, 1e-5, 10) for s in range(101)]
    assert rates[0] == pytest.approx(1e-4) and rates[9] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(rates[9:], rates[10:]))
    assert rates[100] == pytest.approx(1e-5)


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="mask_ratio"):
        TrainConfig(mask_ratio=1.0)
    with pytest.raises(ValueError, match="crop_scale"):
        TrainConfig(crop_scale=(0.5, 0.2))


def test_training_photos_are_installed_and_distinct_from_examples():
    names = {item.name for item in TRAIN_IMAGES}
    assert len(names) == len(TRAIN_IMAGES) >= 10
    examples = {p.stem for p in (Path(__file__).resolve().parents[2] / "examples").glob("*.jpg")}
    assert examples and not examples & names
    assert TRAIN_IMAGES[0].open().mode == "RGB"


def test_patch_discriminator_shapes_and_hinge_losses():
    disc = PatchDiscriminator(width=8)
    logits = disc(torch.zeros(2, 3, 64, 64))
    assert logits.shape == (2, 1, 8, 8)
    assert discriminator_loss(torch.full((2,), 2.0), torch.full((2,), -2.0)).item() == 0.0
    assert generator_loss(torch.tensor([1.0, 3.0])).item() == -2.0
    with pytest.raises(ValueError, match="num_layers"):
        PatchDiscriminator(num_layers=0)
