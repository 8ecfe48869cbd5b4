"""Shared fixtures: tiny random models, generated images, temporary stores and caches."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import numpy as np
import pytest
import torch
from PIL import Image

from mae_core.modeling.model import MAEConfig, MaskedAutoencoderViT

# the datasets library keeps lock files and prepared copies in its cache (read once, at import): tests, and the CLI
# subprocesses they start, use a throw-away one instead of the user's
if "HF_DATASETS_CACHE" not in os.environ:
    _DATASETS_CACHE = tempfile.mkdtemp(prefix="mae-tests-datasets-")
    os.environ["HF_DATASETS_CACHE"] = _DATASETS_CACHE
    atexit.register(shutil.rmtree, _DATASETS_CACHE, ignore_errors=True)

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


@pytest.fixture(scope="session", autouse=True)
def _empty_torch_hub_cache(tmp_path_factory):
    """Every test starts without LPIPS weights (the default metric set depends on them): an empty ``TORCH_HOME``
    unless the test sets its own. Subprocesses inherit it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TORCH_HOME", str(tmp_path_factory.mktemp("torch_home")))
        yield


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
