"""The run's settings: bad values rejected, resumes checked against the saved settings."""

from __future__ import annotations

import pytest

from recipes.tiny_pair.config import TrainConfig


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="mask_ratio"):
        TrainConfig(mask_ratio=1.0)
    with pytest.raises(ValueError, match="crop_scale"):
        TrainConfig(crop_scale=(0.5, 0.2))
    with pytest.raises(ValueError, match="img_size"):
        TrainConfig(img_size=60)


def test_gan_settings_may_change_until_the_gan_phase_has_started():
    saved = TrainConfig().to_dict()
    changed = TrainConfig(gan_steps=10, gan_weight=0.5)
    changed.check_resumable(saved, gan_started=False, source="ckpt")
    with pytest.raises(ValueError, match=r"ckpt was written with other settings.*gan_steps.*gan_weight"):
        changed.check_resumable(saved, gan_started=True, source="ckpt")
    with pytest.raises(ValueError, match=r"'lr': \(0.001, 0.002\)"):
        TrainConfig(lr=2e-3).check_resumable(saved, gan_started=False, source="ckpt")
