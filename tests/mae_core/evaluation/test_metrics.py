"""Metrics over removed patches, in [0, 1] RGB."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.ndimage import gaussian_filter
from skimage.metrics import structural_similarity

from mae_core.evaluation.metrics import (
    DETAIL_FLOOR,
    PSNR_CAP_DB,
    detail_ratio,
    masked_mean,
    measure,
    patch_mse,
    plan_metrics,
    psnr,
    removed_gradient,
    ssim_removed,
)
from mae_core.evaluation.perceptual import ALEXNET_FILE, FETCH_COMMAND
from mae_core.evaluation.preprocess import IMAGENET_MEAN, IMAGENET_STD
from mae_core.modeling.masking import mask_noise
from mae_core.modeling.patches import mask_to_pixels, patchify
from mae_core.options import check_metric_names
from tests.fake_caches import add_lpips_standin


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


# ---- image metrics: original vs pasted, over the removed pixels ----
EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def _photo(name: str = "chelsea.jpg", size: int = 64) -> torch.Tensor:
    """[1, 3, size, size] in [0, 1]: a real photo, so textures and edges are natural."""
    with Image.open(EXAMPLES / name) as img:
        array = np.asarray(img.convert("RGB").resize((size, size), Image.Resampling.BICUBIC), dtype=np.float32)
    return torch.from_numpy(array / 255.0).permute(2, 0, 1).unsqueeze(0)


def _removed(size: int = 64, patch: int = 8, ratio: float = 0.6, seed: int = 0) -> torch.Tensor:
    """[1, 1, size, size] pixel mask of random removed patches (borders included)."""
    grid = size // patch
    patches = (mask_noise(seed, grid * grid) < ratio).float()  # [1, L]
    patches[0, 0] = patches[0, -1] = 1.0  # corner patches: the borders must agree with skimage's too
    return mask_to_pixels(patches, patch, (grid, grid))


def pasted_images(original: torch.Tensor, reconstruction: torch.Tensor, removed: torch.Tensor) -> torch.Tensor:
    """The original's visible pixels, the reconstruction (clipped) in the removed ones."""
    return original * (1 - removed) + reconstruction.clamp(0, 1) * removed


def _blur(x: torch.Tensor, sigma: float = 1.5) -> torch.Tensor:
    array = x[0].permute(1, 2, 0).numpy()
    return torch.from_numpy(gaussian_filter(array, sigma=(sigma, sigma, 0))).permute(2, 0, 1).unsqueeze(0)


@pytest.mark.parametrize("name", ["chelsea.jpg", "rocket.jpg"])
def test_ssim_is_skimages_map_averaged_over_the_removed_pixels(name):
    original = _photo(name)
    removed = _removed(seed=3)
    noise = torch.randn(original.shape, generator=torch.Generator().manual_seed(0))
    reconstruction = (_blur(original, 1.0) + 0.05 * noise).clamp(0, 1)
    pasted = pasted_images(original, reconstruction, removed)
    _, ssim_map = structural_similarity(
        original[0].permute(1, 2, 0).double().numpy(),
        pasted[0].permute(1, 2, 0).double().numpy(),
        channel_axis=2,
        data_range=1.0,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        full=True,
    )
    expected = ssim_map[removed[0, 0].bool().numpy()].mean()
    assert float(ssim_removed(original, pasted, removed)[0]) == pytest.approx(expected, abs=1e-4)


def test_identical_images_score_ssim_1_and_detail_1():
    original = _photo()
    removed = _removed()
    assert float(ssim_removed(original, original, removed)[0]) == pytest.approx(1.0, abs=1e-6)
    assert float(detail_ratio(original, original, removed)[0]) == 1.0


def test_a_blurred_reconstruction_scores_lower_detail_and_ssim_than_a_sharp_one():
    original = torch.cat([_photo("chelsea.jpg"), _photo("coffee.jpg")])
    removed = torch.cat([_removed(seed=0), _removed(seed=1)])
    noise = torch.randn(original.shape, generator=torch.Generator().manual_seed(0))
    sharp = pasted_images(original, original + 0.03 * noise, removed)  # the right texture, slightly off
    blurred = pasted_images(original, torch.cat([_blur(original[:1], 2.0), _blur(original[1:], 2.0)]), removed)
    assert (detail_ratio(original, blurred, removed) < 0.7).all()
    assert (detail_ratio(original, sharp, removed) > 0.9).all()
    assert (ssim_removed(original, blurred, removed) < ssim_removed(original, sharp, removed)).all()


def test_removed_gradient_counts_only_pairs_of_removed_pixels():
    images = torch.zeros(1, 3, 4, 4)
    images[..., :, 2:] = 1.0  # a vertical edge between columns 1 and 2 (luminance 0.2989 + 0.587 + 0.114)
    removed = torch.zeros(1, 1, 4, 4)
    removed[..., :, :2] = 1.0  # the edge is a seam between removed and visible pixels: not counted
    assert float(removed_gradient(images, removed)[0]) == 0.0
    removed[..., :2, :] = 1.0  # now rows 0-1 cross the edge inside the removed region
    across = 2 * 3 + 2 * 1  # rows 0-1: column pairs (0,1) (1,2) (2,3); rows 2-3: (0,1)
    down = 2 * 3 + 2 * 1  # columns 0-1: row pairs (0,1) (1,2) (2,3); columns 2-3: (0,1)
    expected = 2 * (0.2989 + 0.587 + 0.114) / (across + down)  # the edge is crossed in rows 0 and 1
    assert float(removed_gradient(images, removed)[0]) == pytest.approx(expected, rel=1e-6)


def test_detail_of_a_flat_fill_is_near_zero_and_invented_texture_is_above_one():
    original = _photo()
    removed = _removed()
    flat = pasted_images(original, torch.full_like(original, 0.5), removed)
    grain = torch.rand(original.shape, generator=torch.Generator().manual_seed(0))
    noisy = pasted_images(original, (original + 0.4 * (grain - 0.5)).clamp(0, 1), removed)
    assert float(detail_ratio(original, flat, removed)[0]) < 1e-3
    assert float(detail_ratio(original, noisy, removed)[0]) > 1.5


def test_detail_over_a_flat_truth_is_floored_not_thousands():
    removed = _removed()
    flat = torch.full((1, 3, 64, 64), 0.4)
    grain = torch.rand(flat.shape, generator=torch.Generator().manual_seed(0))
    slight = pasted_images(flat, flat + 0.02 * (grain - 0.5), removed)  # about a display level of noise
    noisy = pasted_images(flat, grain, removed)
    assert float(detail_ratio(flat, flat, removed)[0]) == pytest.approx(1.0)
    # the old ratio divided by 1e-6 here: thousands for a slight grain
    assert 1.0 < float(detail_ratio(flat, slight, removed)[0]) < 5.0
    assert 20.0 < float(detail_ratio(flat, noisy, removed)[0]) <= 1.0 / DETAIL_FLOOR
    photo = _photo()
    assert float(removed_gradient(photo, removed)[0]) > DETAIL_FLOOR  # a photo is never floored: as before
    expected = (removed_gradient(grain, removed) + 1e-6) / (removed_gradient(photo, removed) + 1e-6)
    assert float(detail_ratio(photo, grain, removed)[0]) == pytest.approx(float(expected[0]), rel=1e-9)


# ---- choosing metrics, and measuring a batch ----
@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    home = tmp_path / "torch"
    monkeypatch.setenv("TORCH_HOME", str(home))
    for key in ("MAE_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(key, raising=False)
    return home


def test_default_plan_leaves_out_lpips_without_its_weights_and_says_how_to_get_them(torch_home):
    plan = plan_metrics()
    assert plan.names == ("ssim", "detail", "visible_loss") and plan.lpips is None
    assert plan.computed == ("loss", "mse", "psnr", "ssim", "detail", "visible_loss")
    assert ALEXNET_FILE in plan.note and FETCH_COMMAND in plan.note and "\n" not in plan.note


def test_default_plan_includes_lpips_when_its_weights_are_present(torch_home):
    add_lpips_standin(torch_home)
    plan = plan_metrics()
    assert plan.names == ("ssim", "lpips", "detail", "visible_loss") and plan.note is None
    assert plan.lpips is not None and not plan.lpips_requested


def test_lpips_asked_for_offline_and_absent_is_skipped_with_a_note(torch_home):
    plan = plan_metrics(["lpips", "ssim"], offline=True)
    assert plan.names == ("ssim",) and plan.lpips_requested
    assert "downloads are off" in plan.note and FETCH_COMMAND in plan.note


def test_a_chosen_subset_and_unknown_names(torch_home):
    assert plan_metrics(["detail", "loss"]).names == ("detail",)
    assert plan_metrics(["detail"]).note is None  # lpips not wanted: nothing to say
    assert check_metric_names(["visible_loss", "psnr", "ssim"]) == ("psnr", "ssim", "visible_loss")
    with pytest.raises(ValueError, match="unknown metric 'sharpness'; accepted: loss, mse, psnr, ssim, lpips"):
        plan_metrics(["sharpness"])
    with pytest.raises(ValueError, match="list of metric names"):
        plan_metrics("ssim")


def _forward(model, seed=0, ratio=0.5):
    imgs = normalise(_photo(size=model.config.img_size))
    with torch.no_grad():
        out = model(imgs, ratio, mask_noise(seed, model.num_patches))
    return imgs, out


def test_measure_visible_loss_is_the_official_formula_on_the_visible_patches(tiny_model, torch_home):
    imgs, out = _forward(tiny_model)
    batch = measure(
        imgs,
        torch.tensor([0]),
        out.pred,
        out.mask,
        plan_metrics(),
        config=tiny_model.config,
        loss=tiny_model.forward_loss,
    )
    visible = 1 - out.mask
    per_patch = ((out.pred - tiny_model.patchify(imgs)) ** 2).mean(dim=-1)
    assert float(batch.optional["visible_loss"][0]) == pytest.approx(float((per_patch * visible).sum() / visible.sum()))
    assert float(batch.loss[0]) == pytest.approx(float(out.loss[0]))
    metrics = batch.item(0)
    assert metrics.lpips is None and 0 < metrics.ssim < 1 and metrics.detail > 0
    assert metrics.masked_patches == int(out.mask.sum())


def test_measure_a_perfect_reconstruction(tiny_model, torch_home):
    add_lpips_standin(torch_home)
    imgs, out = _forward(tiny_model)
    target = tiny_model.patchify(imgs)
    images = torch.cat([imgs, normalise(_photo("coffee.jpg", size=imgs.shape[-1]))])
    index = torch.tensor([0, 0])  # two items of the first image; the second image is never used
    plan = plan_metrics()
    pred, mask = torch.cat([target, target]), torch.cat([out.mask, out.mask])
    batch = measure(images, index, pred, mask, plan, config=tiny_model.config, loss=tiny_model.forward_loss)
    for k in (0, 1):
        metrics = batch.item(k)
        assert metrics.loss == pytest.approx(0, abs=1e-10) and metrics.visible_loss == pytest.approx(0, abs=1e-10)
        assert metrics.ssim == pytest.approx(1, abs=1e-6) and metrics.detail == pytest.approx(1, abs=1e-6)
        assert metrics.lpips == pytest.approx(0, abs=1e-6)


def test_measure_takes_the_loss_it_is_given(tiny_model):
    """loss and visible_loss are the caller's loss over the removed and the visible patches (a norm-pix model's own,
    say); the pixel metrics depend only on the config's patch layout."""
    imgs, out = _forward(tiny_model)
    calls = []

    def weighted_count(images, pred, weights):  # a loss whose value says which weights it was given
        calls.append((images.shape, pred.shape))
        return weights.sum(dim=1) * 10.0

    plan = plan_metrics(["visible_loss", "detail"])
    batch = measure(imgs, torch.tensor([0]), out.pred, out.mask, plan, config=tiny_model.config, loss=weighted_count)
    removed = int(out.mask.sum())
    assert float(batch.loss[0]) == 10.0 * removed
    assert float(batch.optional["visible_loss"][0]) == 10.0 * (tiny_model.num_patches - removed)
    assert calls == [(imgs.shape, out.pred.shape)] * 2
    official = measure(
        imgs, torch.tensor([0]), out.pred, out.mask, plan, config=tiny_model.config, loss=tiny_model.forward_loss
    )
    assert torch.equal(batch.mse, official.mse) and torch.equal(batch.optional["detail"], official.optional["detail"])
