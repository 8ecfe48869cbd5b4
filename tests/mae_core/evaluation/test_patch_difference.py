"""patch_difference.py: b - a per patch on the same masks; the removed-patch means equal the engine's mse; the
fraction where b is better; the LPIPS map equals torchmetrics' spatial LPIPS averaged per patch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mae_core import PatchDifference, evaluate, patch_difference, reconstruct
from mae_core.evaluation.patch_difference import batch_difference
from mae_core.evaluation.perceptual import LpipsWeightsError, load_lpips
from mae_core.evaluation.preprocess import display_levels, preprocess
from mae_core.evaluation.seed_batch import run_seeds
from mae_core.modeling.masking import mask_noise
from mae_core.modeling.patches import mask_to_pixels, paste
from tests.conftest import make_image, make_model
from tests.fake_caches import add_lpips_standin


def test_squared_error_map_matches_the_engine_and_counts_where_b_is_better():
    a, b = make_model(seed=0), make_model(seed=1)
    image = make_image(seed=2)
    seeds = [0, 3, 7]
    result = patch_difference(a, b, image, 0.5, seeds)
    assert isinstance(result, PatchDifference) and result.metric == "mse"
    assert result.diff.shape == result.a.shape == result.masks.shape == (3, 4, 4)
    removed = result.masks.astype(bool)
    assert np.isnan(result.diff[~removed]).all() and not np.isnan(result.diff[removed]).any()
    np.testing.assert_allclose(result.diff[removed], (result.b - result.a)[removed])
    records = evaluate({"a": a, "b": b}, [image], [0.5], seeds, metrics=[])
    for k, seed in enumerate(seeds):
        for name, values in (("a", result.a), ("b", result.b)):
            (record,) = [r for r in records if r.model == name and r.seed == seed]
            assert float(np.mean(values[k][removed[k]])) == pytest.approx(record.mse, rel=1e-5)
        better = (result.diff[k][removed[k]] < 0).mean()
        assert result.b_better[k] == pytest.approx(better)
    assert result.fraction_b_better == pytest.approx(float((result.diff[removed] < 0).mean()))
    assert 0 < result.fraction_b_better < 1


def test_same_checkpoint_twice_is_a_zero_map_where_b_is_never_better(tiny_model):
    result = patch_difference(tiny_model, tiny_model, make_image(), 0.75, range(4), strategy="grid")
    removed = result.masks.astype(bool)
    assert (result.diff[removed] == 0).all() and result.fraction_b_better == 0.0
    assert (result.b_better == 0).all() and result.strategy == "grid"


def test_lpips_map_is_torchmetrics_spatial_lpips_averaged_per_patch(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    add_lpips_standin(tmp_path / "torch")
    a, b = make_model(seed=0), make_model(seed=1)
    image = make_image(seed=5)
    result = patch_difference(a, b, image, 0.75, [2], metric="lpips")
    config = a.config
    x = preprocess(image, config.img_size).unsqueeze(0)
    network = load_lpips("cpu", offline=True).network
    expected = []
    with torch.inference_mode():
        for model in (a, b):
            out = model(x, mask_ratio=0.75, noise=mask_noise(2, config.num_patches))
            removed = mask_to_pixels(out.mask, config.patch_size)
            pasted = display_levels(paste(x, model.unpatchify(out.pred), removed)) / 255.0
            network.spatial = True
            try:
                spatial = network(display_levels(x) / 255.0, pasted, normalize=True)  # [1, 1, H, W]
            finally:
                network.spatial = False
            expected.append(F.avg_pool2d(spatial, config.patch_size).reshape(4, 4).numpy())
    removed = result.masks[0].astype(bool)
    np.testing.assert_allclose(result.a[0][removed], expected[0][removed], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(result.diff[0][removed], (expected[1] - expected[0])[removed], rtol=1e-3, atol=1e-6)


def test_lpips_without_weights_and_bad_arguments_are_one_line_errors(tiny_model):
    with pytest.raises(LpipsWeightsError) as info:
        patch_difference(tiny_model, tiny_model, make_image(), metric="lpips")
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="unknown per-patch metric 'ssim'; accepted: mse, lpips"):
        patch_difference(tiny_model, tiny_model, make_image(), metric="ssim")
    other = make_model(config=tiny_model.config.__class__(**{**tiny_model.config.to_dict(), "patch_size": 16}))
    with pytest.raises(ValueError, match="same patch grid"):
        patch_difference(tiny_model, other, make_image())


def test_a_drawn_mask_is_one_mask_the_same_as_reconstructs():
    """strategy="custom" with drawn patches: one mask at the drawn ratio, each checkpoint's per-patch squared error
    equal to reconstruct's ``patch_error`` under the same drawing."""
    a, b = make_model(seed=0), make_model(seed=1)
    image = make_image(seed=2)
    drawn = [0, 1, 5, 10, 15]
    result = patch_difference(a, b, image, 0.9, seeds=[3, 4], strategy="custom", removed=drawn)
    assert result.seeds == () and result.strategy == "custom" and result.mask_ratio == pytest.approx(5 / 16)
    assert result.masks.shape == (1, 4, 4) and sorted(np.flatnonzero(result.masks[0])) == drawn
    for model, values in ((a, result.a), (b, result.b)):
        rec = reconstruct(model, image, 0.5, 0, strategy="custom", removed=drawn, metrics=[])
        np.testing.assert_array_equal(rec.mask, result.masks[0])
        removed = rec.mask.astype(bool)
        np.testing.assert_allclose(values[0][removed], rec.patch_error[removed], rtol=1e-5, atol=1e-7)
    assert result.b_better[0] == pytest.approx(float((result.diff[0][result.masks[0] == 1] < 0).mean()))
    with pytest.raises(ValueError, match="strategy='custom' needs the removed patches"):
        patch_difference(a, b, image, strategy="custom")
    with pytest.raises(ValueError, match="removed patches are for strategy='custom', not 'random'"):
        patch_difference(a, b, image, removed=drawn)
    with pytest.raises(ValueError, match="removes no patch"):
        patch_difference(a, b, image, strategy="custom", removed=[])


def test_batches_already_run_give_the_same_difference_and_must_share_their_masks(tiny_model):
    other = make_model(config=tiny_model.config, seed=5)
    image = make_image(seed=4)
    runs = [run_seeds(m, image, 0.5, (1, 2), strategy="block") for m in (tiny_model, other)]
    shared = batch_difference(*runs, tiny_model.config, metric="mse", seeds=(1, 2), strategy="block")
    direct = patch_difference(tiny_model, other, image, 0.5, (1, 2), strategy="block")
    np.testing.assert_array_equal(shared.diff, direct.diff)
    elsewhere = run_seeds(other, image, 0.5, (3, 4), strategy="block")
    with pytest.raises(ValueError, match="run on different masks"):
        batch_difference(runs[0], elsewhere, tiny_model.config, metric="mse", seeds=(1, 2), strategy="block")
