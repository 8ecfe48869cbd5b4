"""reconstruct(): the official demo's panels, metrics consistent with the model, seeds that mean something."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from mae_core.checkpoints.loading import load_model
from mae_core.evaluation.preprocess import preprocess, to_uint8
from mae_core.evaluation.reconstruct import reconstruct
from mae_core.modeling.masking import mask_noise

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_panels_follow_the_official_demo(tiny_model, rgb_image):
    rec = reconstruct(tiny_model, rgb_image, 0.75, seed=2)
    x = preprocess(rgb_image, 32).unsqueeze(0)
    with torch.no_grad():
        out = tiny_model(x, 0.75, mask_noise(2, 16))
    y = tiny_model.unpatchify(out.pred)
    mask = tiny_model.unpatchify(out.mask.unsqueeze(-1).repeat(1, 1, 8 * 8 * 3))
    assert np.array_equal(rec.original, to_uint8(x[0]))
    assert np.array_equal(rec.masked, to_uint8((x * (1 - mask))[0]))
    assert np.array_equal(rec.reconstruction, to_uint8(y[0]))
    assert np.array_equal(rec.reconstruction_visible, to_uint8((x * (1 - mask) + y * mask)[0]))
    assert rec.metrics.loss == pytest.approx(float(out.loss[0]), rel=1e-6)
    assert rec.mask.shape == (4, 4) and rec.mask.sum() == rec.metrics.masked_patches == 12


def test_metrics_match_the_error_map(tiny_model, rgb_image):
    rec = reconstruct(tiny_model, rgb_image, 0.5, seed=0)
    removed = rec.mask.astype(bool)
    assert rec.metrics.mse == pytest.approx(float(rec.patch_error[removed].mean()), rel=1e-5)
    assert rec.metrics.psnr == pytest.approx(10 * np.log10(1 / rec.metrics.mse), rel=1e-6)


def test_same_seed_same_mask_other_seed_other_mask(tiny_model, rgb_image):
    a = reconstruct(tiny_model, rgb_image, 0.75, seed=1)
    b = reconstruct(tiny_model, rgb_image, 0.75, seed=1)
    c = reconstruct(tiny_model, rgb_image, 0.75, seed=2)
    assert np.array_equal(a.mask, b.mask) and a.metrics == b.metrics
    assert not np.array_equal(a.mask, c.mask)


def test_bad_ratio_is_a_value_error(tiny_model, rgb_image):
    with pytest.raises(ValueError, match="1.0"):
        reconstruct(tiny_model, rgb_image, 1.0)


@pytest.mark.parametrize("strategy", ["block", "grid"])
def test_seeded_strategies_use_their_own_noise(tiny_model, rgb_image, strategy):
    rec = reconstruct(tiny_model, rgb_image, 0.75, seed=3, strategy=strategy)
    x = preprocess(rgb_image, 32).unsqueeze(0)
    with torch.no_grad():
        out = tiny_model(x, 0.75, mask_noise(3, 16, strategy=strategy))
    assert np.array_equal(rec.mask.reshape(-1), out.mask[0].to(torch.uint8).numpy())
    assert rec.strategy == strategy and rec.metrics.loss == pytest.approx(float(out.loss[0]), rel=1e-6)


def test_drawn_mask_removes_exactly_the_drawn_patches(tiny_model, rgb_image):
    drawn = np.zeros((4, 4), dtype=bool)
    drawn[1:3, 0:3] = True
    rec = reconstruct(tiny_model, rgb_image, 0.9, seed=5, strategy="custom", removed=drawn)
    assert np.array_equal(rec.mask.astype(bool), drawn)  # the 0.9 given is ignored: the drawing decides
    assert rec.metrics.masked_patches == 6 and rec.mask_ratio == pytest.approx(6 / 16)
    assert rec.strategy == "custom"
    by_index = reconstruct(tiny_model, rgb_image, strategy="custom", removed=[4, 5, 6, 8, 9, 10])
    assert np.array_equal(by_index.mask, rec.mask) and by_index.metrics == rec.metrics


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"strategy": "custom"}, "needs the removed patches"),
        ({"strategy": "custom", "removed": []}, "removes no patch"),
        ({"strategy": "custom", "removed": list(range(16))}, "leave at least one"),
        ({"strategy": "block", "removed": [1]}, "not 'block'"),
        ({"strategy": "diagonal"}, "diagonal"),
    ],
)
def test_bad_mask_arguments_are_value_errors(tiny_model, rgb_image, kwargs, match):
    with pytest.raises(ValueError, match=match):
        reconstruct(tiny_model, rgb_image, 0.5, **kwargs)


def test_masked_preview_is_the_masked_panel_before_running(tiny_model, rgb_image):
    from mae_core.evaluation.reconstruct import masked_preview

    drawn = [0, 5, 10, 15]
    for crop in (False, True):
        rec = reconstruct(tiny_model, rgb_image, strategy="custom", removed=drawn, crop=crop)
        preview = masked_preview(rgb_image, drawn, img_size=32, patch_size=8, crop=crop)
        assert preview.shape == (32, 32, 3) and preview.dtype == np.uint8
        assert np.array_equal(preview, rec.masked)
    one = masked_preview(rgb_image, [0], img_size=32, patch_size=8)
    original = reconstruct(tiny_model, rgb_image, strategy="custom", removed=[0]).original
    assert np.array_equal(one[8:], original[8:]) and np.array_equal(one[:, 8:], original[:, 8:])  # only patch 0
    assert not np.array_equal(one[:8, :8], original[:8, :8])


@pytest.mark.parametrize("name, ratio, seed", [("tiny-pixel", 0.75, 0), ("tiny-gan", 0.5, 2)])
def test_image_metrics_agree_with_skimage_on_the_panels(name, ratio, seed):
    """What a user can check by hand: SSIM of the two panels (skimage), averaged over the removed pixels."""
    model = load_model(name, offline=True)
    rec = reconstruct(model, EXAMPLES / "chelsea.jpg", ratio, seed)
    removed = np.kron(rec.mask, np.ones((16, 16), dtype=np.uint8)).astype(bool)  # [224, 224]
    original, pasted = rec.original / 255.0, rec.reconstruction_visible / 255.0
    _, ssim_map = structural_similarity(
        original,
        pasted,
        channel_axis=2,
        data_range=1.0,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        full=True,
    )
    assert rec.metrics.ssim == pytest.approx(ssim_map[removed].mean(), abs=1e-3)
    assert rec.metrics.lpips is None  # no LPIPS weights here, and not asked for
    assert rec.metrics.detail > 0 and rec.metrics.visible_loss > 0


def test_metrics_chosen_per_call(tiny_model, rgb_image):
    rec = reconstruct(tiny_model, rgb_image, 0.75, seed=1, metrics=["detail"])
    assert rec.metrics.detail is not None and rec.metrics.ssim is None and rec.metrics.visible_loss is None


def test_spread_is_refused_for_one_reconstruction_with_where_to_get_it(tiny_model, rgb_image):
    with pytest.raises(ValueError, match=r"spread is measured over several masks.*mask_uncertainty") as info:
        reconstruct(tiny_model, rgb_image, 0.75, seed=1, metrics=["ssim", "spread"])
    assert "\n" not in str(info.value)


# tiny-pixel on chelsea.jpg at ratio 0.75, seed 3, recorded before other sizes existed: (loss, mse, sha256 prefix of
# the mask's bytes). The 224 path must give these numbers: the mask exactly (torch's CPU generator is the same on
# every machine), the metrics to float32 rounding (another CPU's matrix kernels round differently: an Intel Xeon
# and an AMD EPYC differ in the 8th digit).
GOLDEN_224 = {
    "random": (0.2967255115509033, 0.015149703249335289, "da79f0ea31336d89"),
    "block": (0.6587005853652954, 0.03354976698756218, "7ac51a8c7fe6432f"),
    "grid": (0.23926056921482086, 0.01221801433712244, "e1a489dd7cbfeafd"),
}


@pytest.mark.parametrize("size", [None, 224, (224, 224)])
def test_224_gives_the_numbers_it_always_gave(size):
    import hashlib

    model = load_model("tiny-pixel", offline=True)
    for strategy, (loss, mse, digest) in GOLDEN_224.items():
        rec = reconstruct(model, EXAMPLES / "chelsea.jpg", 0.75, 3, strategy=strategy, metrics=(), size=size)
        assert (rec.metrics.loss, rec.metrics.mse) == pytest.approx((loss, mse), rel=1e-5), strategy
        assert hashlib.sha256(rec.mask.tobytes()).hexdigest()[:16] == digest, strategy
        default = reconstruct(model, EXAMPLES / "chelsea.jpg", 0.75, 3, strategy=strategy, metrics=())
        np.testing.assert_array_equal(rec.reconstruction, default.reconstruction)  # one path: the same pixels


@pytest.mark.parametrize("photo", ["coffee.jpg", "chelsea.jpg"])
def test_a_320x480_photo_reconstructs_about_as_well_as_its_224_crop(photo):
    # tiny-pixel is 224 px with 16 px patches, like the official models, so the sizes need no scaling.
    # A 480 x 320 photo (landscape: H 320, W 480; a 20 x 30 grid, 600 patches) at its own size against its central
    # 224 crop (14 x 14); removed-patch MSE averaged over 6 seeds, to compare the sizes rather than two masks.
    from PIL import Image

    from mae_core.evaluation.preprocess import load_image

    model = load_model("tiny-pixel", offline=True)
    image = load_image(EXAMPLES / photo).resize((480, 320), Image.Resampling.BICUBIC)
    native = [reconstruct(model, image, 0.75, s, size=(320, 480), metrics=()) for s in range(6)]
    crop = [reconstruct(model, image, 0.75, s, crop=True, metrics=()) for s in range(6)]
    assert native[0].original.shape == (320, 480, 3) and native[0].mask.shape == (20, 30)
    assert native[0].mask.sum() == native[0].metrics.masked_patches == 600 - int(600 * 0.25)
    native_mse = np.mean([r.metrics.mse for r in native])
    crop_mse = np.mean([r.metrics.mse for r in crop])
    assert native_mse < 1.5 * crop_mse


@pytest.mark.parametrize("strategy", ["random", "block", "grid", "custom"])
def test_every_strategy_reconstructs_a_rectangle(tiny_model, rgb_image, strategy):
    removed = [0, 5, 6, 11] if strategy == "custom" else None
    rec = reconstruct(tiny_model, rgb_image, 0.5, 1, strategy=strategy, removed=removed, size=(24, 48), metrics=())
    assert rec.original.shape == rec.reconstruction.shape == (24, 48, 3)
    assert rec.mask.shape == rec.patch_error.shape == (3, 6)
    assert rec.mask.sum() == (4 if strategy == "custom" else 9)
    if strategy == "custom":
        assert np.flatnonzero(rec.mask).tolist() == removed


@pytest.mark.parametrize("size", [(30, 48), (24, 2048), 0])
def test_unsupported_sizes_are_refused_with_the_rule(tiny_model, rgb_image, size):
    with pytest.raises(ValueError, match="multiple of the patch size|positive integer"):
        reconstruct(tiny_model, rgb_image, size=size)


def test_native_size_reconstructs_at_the_image_aspect(tiny_model):
    from PIL import Image

    image = Image.new("RGB", (50, 22), (200, 30, 30))  # 8 px patches: 24 x 48 (22 -> 24, 50 -> 48)
    rec = reconstruct(tiny_model, image, 0.5, 0, size="native", metrics=())
    assert rec.original.shape == (24, 48, 3) and rec.mask.shape == (3, 6)
    with pytest.raises(ValueError, match="size must be a side, \\(height, width\\) or 'native', got 'big'"):
        reconstruct(tiny_model, image, size="big")
