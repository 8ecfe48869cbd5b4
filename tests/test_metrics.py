"""Metrics over removed patches, in [0, 1] RGB."""

from __future__ import annotations

import math

import torch

from mae_core.metrics import PSNR_CAP_DB, masked_mean, patch_mse, psnr
from mae_core.patches import patchify
from mae_core.preprocess import IMAGENET_MEAN, IMAGENET_STD


def normalise(x01: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32).view(1, 3, 1, 1)
    return (x01 - mean) / std


def test_patch_mse_is_pixel_space_error():
    target01 = torch.full((1, 3, 8, 8), 0.5)
    pred01 = target01.clone()
    pred01[..., :4, :4] += 0.1  # only the first of four 4x4 patches is off, by 0.1 everywhere
    per_patch = patch_mse(patchify(normalise(pred01), 4), patchify(normalise(target01), 4))
    assert torch.allclose(per_patch, torch.tensor([[0.01, 0, 0, 0]]), atol=1e-6)


def test_prediction_is_clipped_to_the_visible_range():
    target01 = torch.ones((1, 3, 4, 4))
    pred = patchify(normalise(torch.full((1, 3, 4, 4), 3.0)), 4)  # far above white
    assert patch_mse(pred, patchify(normalise(target01), 4)).max() < 1e-10


def test_masked_mean_ignores_visible_patches():
    values = torch.tensor([[1.0, 100.0, 3.0], [2.0, 2.0, 50.0]])
    mask = torch.tensor([[1, 0, 1], [1, 1, 0]])
    assert torch.allclose(masked_mean(values, mask), torch.tensor([2.0, 2.0]))


def test_psnr():
    assert math.isclose(float(psnr(torch.tensor([0.01]))[0]), 20.0, rel_tol=1e-6)
    assert float(psnr(torch.tensor([0.0]))[0]) == PSNR_CAP_DB
