"""Shared fixtures: tiny random models, generated images, temporary stores and caches."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from mae_core.model import MAEConfig, MaskedAutoencoderViT

TINY_CONFIG = MAEConfig(
    img_size=32,
    patch_size=8,
    embed_dim=32,
    depth=2,
    num_heads=4,
    decoder_embed_dim=16,
    decoder_depth=1,
    decoder_num_heads=2,
)


def make_model(config: MAEConfig = TINY_CONFIG, seed: int = 0) -> MaskedAutoencoderViT:
    """A randomly initialised model, deterministic in ``seed``, in eval mode."""
    torch.manual_seed(seed)
    return MaskedAutoencoderViT(config).eval()


@pytest.fixture
def tiny_model() -> MaskedAutoencoderViT:
    return make_model()


@pytest.fixture
def tiny_config() -> MAEConfig:
    return TINY_CONFIG


def make_image(width: int = 48, height: int = 40, seed: int = 0, mode: str = "RGB") -> Image.Image:
    """A smooth random colour image (gradients plus noise), so reconstructions have structure."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx / width, yy / height, (xx + yy) / (width + height)], axis=-1)
    img = np.clip(base * 200 + rng.normal(0, 20, size=base.shape), 0, 255).astype(np.uint8)
    return Image.fromarray(img, "RGB").convert(mode)


@pytest.fixture
def rgb_image() -> Image.Image:
    return make_image()


@pytest.fixture
def offline_caches(tmp_path, monkeypatch):
    """Empty HF and torch hub caches in tmp, the built-in registry only; offline so nothing can reach the network."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("MAE_OFFLINE", "1")
    monkeypatch.delenv("MAE_CHECKPOINTS_FILE", raising=False)
    return tmp_path
