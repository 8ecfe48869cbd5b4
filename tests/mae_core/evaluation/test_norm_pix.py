"""Norm-pix de-normalisation: the oracle leaks the removed patches' statistics, the honest mode never reads them;
a tiny norm-pix model trained here in seconds runs the whole path offline, from a saved file on (the official
``*_full.pth`` layout is loaded in tests/mae_core/checkpoints/test_loading.py)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mae_core.checkpoints.checkpoint_files import save_checkpoint
from mae_core.checkpoints.errors import NormPixWarning
from mae_core.checkpoints.loading import load_model
from mae_core.evaluation.norm_pix import (
    DENORM_MODES,
    check_denorm,
    denormalise,
    honest_stats,
    norm_pix_gap,
    patch_stats,
)
from mae_core.evaluation.preprocess import preprocess
from mae_core.evaluation.reconstruct import reconstruct
from mae_core.modeling.masking import mask_noise, random_masking
from mae_core.modeling.model import MAEConfig, MaskedAutoencoderViT
from mae_core.modeling.patches import patchify
from tests.conftest import TINY_CONFIG, make_model

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
NORM_PIX = MAEConfig(**{**TINY_CONFIG.to_dict(), "norm_pix_loss": True})  # 32 px, 8 px patches, 4 x 4 grid


def _perturb_removed(patches: torch.Tensor, mask: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    return torch.where(mask.bool().unsqueeze(-1), value, patches)


@pytest.mark.parametrize("grid", [(4, 4), (3, 5)])
def test_honest_never_reads_a_removed_patch_and_oracle_does(grid):
    generator = torch.Generator().manual_seed(0)
    length = grid[0] * grid[1]
    patches = torch.randn(2, length, 48, generator=generator)
    pred = torch.randn(2, length, 48, generator=generator)
    mask = random_masking(patches, 0.6, mask_noise(1, length, 2, "block", grid=grid)).mask
    honest = denormalise(pred, patches, mask, grid, "honest")
    oracle = denormalise(pred, patches, mask, grid, "oracle")
    for value in (torch.randn(2, length, 48, generator=generator) * 5 + 3, torch.tensor(float("nan"))):
        changed = _perturb_removed(patches, mask, value)
        assert torch.equal(denormalise(pred, changed, mask, grid, "honest"), honest)  # bit for bit, even with NaN
        assert not torch.equal(denormalise(pred, changed, mask, grid, "oracle"), oracle)
    # visible patches: both modes use their own (known) statistics
    visible = ~mask.bool()
    assert torch.equal(honest[visible], oracle[visible])


def test_honest_estimates_come_from_the_nearest_visible_patches():
    # a 1 x 5 strip: patch 2 is removed; its neighbours at distance 1 (patches 1, 3) weigh 8x those at 2 (0, 4)
    levels_spreads = [(4.0, 5.0), (4.0, 1.0), (0.0, 9.0), (-4.0, 3.0), (-4.0, 7.0)]
    patches = torch.stack([torch.full((12,), v) + torch.linspace(-s, s, 12) for v, s in levels_spreads])[None]
    mask = torch.tensor([[0.0, 0.0, 1.0, 0.0, 0.0]])
    mean, std = honest_stats(patches, mask, (1, 5))
    true_mean, true_std = patch_stats(patches)
    assert torch.equal(mean[0, [0, 1, 3, 4]], true_mean[0, [0, 1, 3, 4]])
    assert torch.equal(std[0, [0, 1, 3, 4]], true_std[0, [0, 1, 3, 4]])
    assert mean[0, 2, 0] == pytest.approx(0.0, abs=1e-5)  # symmetric levels: 4, 4 | -4, -4
    near, far = true_std[0, [1, 3], 0].sum(), true_std[0, [0, 4], 0].sum()
    assert std[0, 2, 0] == pytest.approx(float((near + far / 8) / 2.25), rel=1e-5)


def test_modes_are_checked():
    assert DENORM_MODES == ("honest", "oracle")
    with pytest.raises(ValueError, match="unknown de-normalisation mode 'true'; accepted: honest, oracle"):
        check_denorm("true")
    with pytest.raises(ValueError, match="at least one visible patch"):
        honest_stats(torch.zeros(1, 4, 3), torch.ones(1, 4), (2, 2))


def test_pixel_models_take_no_mode(tiny_model, rgb_image):
    with pytest.raises(ValueError, match="denorm='oracle' is for norm-pix models"):
        reconstruct(tiny_model, rgb_image, denorm="oracle")
    assert reconstruct(tiny_model, rgb_image, metrics=()).norm_pix_gap is None


@pytest.fixture(scope="module")
def trained_norm_pix_file(tmp_path_factory) -> tuple[Path, float, float]:
    """A tiny norm-pix MAE trained for a few seconds on the example photos (random 32 px crops of 96 px copies),
    saved as the project saves its models (safetensors; the config, norm_pix_loss included, in its metadata).
    Returns the file and the mean loss of the first and of the last 10 steps."""
    photos = torch.stack([preprocess(EXAMPLES / name, 96) for name in sorted(p.name for p in EXAMPLES.glob("*.jpg"))])
    torch.manual_seed(0)
    model = MaskedAutoencoderViT(NORM_PIX).train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=2e-3)
    generator = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(60):
        tops = torch.randint(0, 65, (8, 2), generator=generator)
        batch = torch.stack([photos[i % len(photos), :, y : y + 32, x : x + 32] for i, (y, x) in enumerate(tops)])
        noise = torch.rand(8, NORM_PIX.num_patches, generator=generator)
        loss = model(batch, 0.5, noise).loss.mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    path = save_checkpoint(
        model.eval(), tmp_path_factory.mktemp("normpix") / "tiny-normpix.safetensors", loss_type="pixel"
    )
    return path, float(np.mean(losses[:10])), float(np.mean(losses[-10:]))


def test_a_trained_norm_pix_model_loads_and_reconstructs_in_both_modes(trained_norm_pix_file):
    path, first, last = trained_norm_pix_file
    assert last < 0.85 * first  # it learned something in those seconds
    with pytest.warns(NormPixWarning, match="denorm='honest'"):
        model = load_model(path, offline=True)
    assert model.config.norm_pix_loss and model.checkpoint_info.norm_pix
    photo = Image.open(EXAMPLES / "coffee.jpg").convert("RGB")
    gaps, runs = [], {}
    for seed in range(4):
        for mode in DENORM_MODES:
            runs[mode] = reconstruct(model, photo, 0.5, seed, crop=True, denorm=mode, metrics=("ssim",))
        honest, oracle = runs["honest"], runs["oracle"]
        assert honest.denorm == "honest" and oracle.denorm == "oracle"
        assert honest.norm_pix_gap == oracle.norm_pix_gap  # one metric: both modes measured, whichever is shown
        assert honest.metrics.mse == pytest.approx(honest.norm_pix_gap.honest_mse, rel=1e-5)
        assert oracle.metrics.mse == pytest.approx(oracle.norm_pix_gap.oracle_mse, rel=1e-5)
        assert honest.metrics.loss == oracle.metrics.loss  # the model's own loss does not depend on the mode
        gaps.append(honest.norm_pix_gap.gap)
        # the same visible pixels in both; only the removed patches differ
        visible = np.kron(1 - honest.mask, np.ones((8, 8), dtype=np.uint8)).astype(bool)
        assert np.array_equal(honest.reconstruction_visible[visible], oracle.reconstruction_visible[visible])
    assert np.mean(gaps) > 0  # knowing the answer's statistics helps: the leak has a measurable value
    default = reconstruct(model, photo, 0.5, 0, crop=True, metrics=())
    assert default.denorm == "honest"


def test_honest_reconstruction_is_unchanged_when_removed_pixels_change(trained_norm_pix_file):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NormPixWarning)
        model = load_model(trained_norm_pix_file[0], offline=True)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)  # the model's size: preprocessing moves no pixel
    first = {mode: reconstruct(model, image, 0.5, 3, denorm=mode, metrics=()) for mode in DENORM_MODES}
    removed = np.kron(first["honest"].mask, np.ones((8, 8), dtype=np.uint8)).astype(bool)
    changed = image.copy()
    changed[removed] = 255 - changed[removed]
    second = {mode: reconstruct(model, changed, 0.5, 3, denorm=mode, metrics=()) for mode in DENORM_MODES}
    assert np.array_equal(second["honest"].reconstruction, first["honest"].reconstruction)
    assert np.array_equal(second["honest"].reconstruction_visible, first["honest"].reconstruction_visible)
    assert not np.array_equal(second["oracle"].reconstruction, first["oracle"].reconstruction)


def test_norm_pix_gap_is_per_image():
    model = make_model(NORM_PIX)
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        out = model(x, 0.75, mask_noise(0, 16, 3))
    gaps = norm_pix_gap(out.pred, patchify(x, 8), out.mask, (4, 4))
    assert len(gaps) == 3 and all(np.isfinite([g.oracle_mse, g.honest_mse, g.gap]).all() for g in gaps)
