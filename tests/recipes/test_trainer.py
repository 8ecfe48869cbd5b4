"""The trainer: a smoke run writes loadable models and a curve, is deterministic, resumes exactly, refuses changes."""

from __future__ import annotations

import shutil

import pytest
import torch
from safetensors import safe_open

from mae_core.checkpoints.loading import load_model
from mae_core.files import file_sha256
from recipes.tiny_pair.cli import main
from recipes.tiny_pair.config import TrainConfig
from recipes.tiny_pair.trainer import CHECKPOINT_NAME, PIXEL_DONE_NAME, Trainer, train
from tests.recipes.conftest import SMOKE, read_losses


def test_smoke_run_writes_loadable_checkpoints_and_curve(smoke_runs):
    run, _ = smoke_runs
    for name, loss_type in (("tiny-pixel", "pixel"), ("tiny-gan", "gan")):
        model = load_model(run / f"{name}.safetensors", offline=True)
        assert model.config.img_size == 64 and model.config.patch_size == 16
        with safe_open(str(run / f"{name}.safetensors"), framework="pt") as handle:
            assert handle.metadata()["loss_type"] == loss_type
        out = model(torch.zeros(1, 3, 64, 64), 0.75, torch.rand(1, 16, generator=torch.Generator().manual_seed(0)))
        assert out.pred.shape == (1, 16, 16 * 16 * 3) and torch.isfinite(out.loss).all()
    assert (run / "loss_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = read_losses(run)
    assert [row["phase"] for row in rows] == ["pixel"] * 3 + ["gan"] * 2
    assert [int(row["step"]) for row in rows] == [1, 2, 3, 1, 2]
    assert all(float(row["d_loss"]) > 0 for row in rows if row["phase"] == "gan")


def test_smoke_run_is_deterministic(smoke_runs):
    first, second = smoke_runs
    losses = [[(r["pixel_loss"], r["g_adv"], r["d_loss"]) for r in read_losses(run)] for run in (first, second)]
    assert losses[0] == losses[1]
    assert len({row[0] for row in losses[0]}) > 1  # the loss actually moves between steps
    for name in ("tiny-pixel", "tiny-gan"):
        a, b = (load_model(run / f"{name}.safetensors", offline=True).state_dict() for run in (first, second))
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_the_gan_model_differs_from_the_pixel_model(smoke_runs):
    run, _ = smoke_runs
    pixel = load_model(run / "tiny-pixel.safetensors", offline=True).state_dict()
    gan = load_model(run / "tiny-gan.safetensors", offline=True).state_dict()
    assert pixel.keys() == gan.keys()
    assert any(not torch.equal(pixel[k], gan[k]) for k in pixel)


def test_resuming_from_the_pixel_phase_reproduces_the_run(smoke_runs, tmp_path):
    first, _ = smoke_runs
    shutil.copyfile(first / PIXEL_DONE_NAME, tmp_path / CHECKPOINT_NAME)
    shutil.copyfile(first / "tiny-pixel.safetensors", tmp_path / "tiny-pixel.safetensors")
    config = TrainConfig(steps=3, gan_steps=2, img_size=64, batch_size=2)
    result = train(config, tmp_path, progress=False)
    assert [row.phase for row in result.history] == ["pixel"] * 3 + ["gan"] * 2  # the saved history comes back
    assert read_losses(tmp_path) == [
        {**row, "seconds": new["seconds"]} for row, new in zip(read_losses(first), read_losses(tmp_path))
    ]


def test_resume_refuses_changed_pixel_settings_but_allows_new_gan_settings(smoke_runs, tmp_path):
    first, _ = smoke_runs
    trainer = Trainer.new(TrainConfig(steps=3, gan_steps=2, img_size=64, batch_size=3), tmp_path)
    with pytest.raises(ValueError, match="batch_size"):
        trainer.restore(first / CHECKPOINT_NAME)
    # at the end of the pixel phase the GAN settings are still open; after a GAN step they are not
    Trainer.new(TrainConfig(steps=3, gan_steps=4, img_size=64, batch_size=2), tmp_path).restore(first / PIXEL_DONE_NAME)
    with pytest.raises(ValueError, match="gan_steps"):
        Trainer.new(TrainConfig(steps=3, gan_steps=4, img_size=64, batch_size=2), tmp_path).restore(
            first / CHECKPOINT_NAME
        )


def test_steps_take_one_update_each_and_record_a_row(tmp_path):
    config = TrainConfig(steps=2, gan_steps=1, img_size=32, batch_size=1, max_side=64)
    trainer = Trainer.new(config, tmp_path)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    row = trainer.pixel_step()
    assert (row.phase, row.step, row.g_adv, row.d_loss) == ("pixel", 1, 0.0, 0.0) and trainer.step == 1
    assert any(not torch.equal(before[k], v) for k, v in trainer.model.state_dict().items())
    trainer.start_gan_phase()
    assert (tmp_path / "tiny-pixel.safetensors").exists() and (tmp_path / PIXEL_DONE_NAME).exists()
    disc_before = {k: v.clone() for k, v in trainer.disc.state_dict().items()}
    row = trainer.gan_step()
    assert (row.phase, row.step, row.lr) == ("gan", 1, config.gan_lr) and row.d_loss > 0
    assert any(not torch.equal(disc_before[k], v) for k, v in trainer.disc.state_dict().items())
    assert trainer.history[-1] == row and len(trainer.history) == 2


def test_gan_phase_from_an_existing_pixel_model_keeps_its_bytes(smoke_runs, tmp_path):
    """``--pixel-weights``: no pixel phase; the fine-tuning starts from that file, which the export copies unchanged."""
    bundled = smoke_runs[0].parent / "bundled"
    start = bundled / "tiny-pixel.safetensors"  # a float16 pixel model, as mae_core/bundled holds
    out, dest = tmp_path / "run", tmp_path / "export"
    argv = [*SMOKE, "--out", str(out), "--pixel-weights", str(start), "--export", str(dest)]
    assert main(argv) == 0
    rows = read_losses(out)
    assert [row["phase"] for row in rows] == ["gan", "gan"]
    assert (dest / "tiny-pixel.safetensors").read_bytes() == start.read_bytes()
    sums = dict(line.split("  ")[::-1] for line in (dest / "SHA256SUMS").read_text().splitlines())
    assert sums["tiny-pixel.safetensors"] == file_sha256(start)
    pixel = load_model(start, offline=True).state_dict()
    tuned = load_model(dest / "tiny-gan.safetensors", offline=True).state_dict()
    assert any(not torch.equal(pixel[k], tuned[k]) for k in pixel)  # fine-tuned from it, not a copy


def test_pixel_weights_of_another_shape_are_refused(smoke_runs, tmp_path, capsys):
    start = smoke_runs[0].parent / "bundled" / "tiny-pixel.safetensors"  # 64 px
    argv = [*SMOKE, "--out", str(tmp_path / "run"), "--pixel-weights", str(start), "--img-size", "32"]
    assert main(argv) == 2
    assert str(start) in capsys.readouterr().err
