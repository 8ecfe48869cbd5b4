"""The batched engine: the packed fast path against the plain forward, batch-size/order independence, bfloat16,
image inputs, progress, and input validation."""

from __future__ import annotations

import dataclasses
import math
import threading

import numpy as np
import pytest
import torch

from mae_core.evaluation.engine import EvalRecord, evaluate, iter_evaluate, select_device
from mae_core.evaluation.metrics import MetricSkippedWarning
from mae_core.evaluation.packed import cached_pack_weights, pack_weights, packed_forward
from mae_core.evaluation.preprocess import ImageError, preprocess
from mae_core.evaluation.reconstruct import reconstruct
from mae_core.evaluation.uncertainty import mask_uncertainty
from mae_core.modeling.masking import mask_hash, mask_noise, noise_for_seeds
from mae_core.modeling.model import MAEConfig
from tests.conftest import TINY_CONFIG, make_image, make_model
from tests.fake_caches import add_lpips_standin

CPU = torch.device("cpu")
RATIOS = [0.25, 0.5, 0.75, 0.9]
SEEDS = [0, 3, 11]


@pytest.fixture(scope="module")
def models():
    return {"a": make_model(seed=0), "b": make_model(seed=1)}


@pytest.fixture(scope="module")
def images():
    return torch.stack([preprocess(make_image(seed=k), 32) for k in range(3)])  # [3, 3, 32, 32]


def _key(record: EvalRecord) -> tuple:
    return (record.model, record.image, record.mask, record.mask_ratio, record.seed)


def _assert_same_records(left: list[EvalRecord], right: list[EvalRecord], rtol: float = 1e-5) -> None:
    right_by_key = {_key(r): r for r in right}
    assert len(left) == len(right) == len(right_by_key)
    for record in left:
        other = right_by_key[_key(record)]
        assert record.masked_patches == other.masked_patches
        for field in ("loss", "mse", "psnr"):
            assert getattr(record, field) == pytest.approx(getattr(other, field), rel=rtol), (_key(record), field)


@pytest.mark.parametrize("dtype, atol", [(torch.float32, 1e-5), (torch.bfloat16, 0.1)])
def test_packed_forward_matches_plain_forward(dtype, atol):
    model = make_model(MAEConfig(**{**TINY_CONFIG.to_dict(), "depth": 3}), seed=5)
    torch.manual_seed(0)
    imgs = torch.randn(2, 3, 32, 32)
    image_index = [0, 1, 1, 0, 1, 0, 0]
    ratios = [0.25, 0.9, 0.5, 0.5, 0.25, 0.75, 0.9]  # mixed ratios and unequal group sizes in one pass
    seeds = [0, 1, 2, 3, 4, 5, 6]
    with torch.inference_mode():
        out = packed_forward(pack_weights(model, CPU, dtype), imgs, image_index, ratios, noise_for_seeds(seeds, 16))
        for item, (image, ratio, seed) in enumerate(zip(image_index, ratios, seeds)):
            plain = model(imgs[image : image + 1], ratio, mask_noise(seed, 16))
            assert torch.equal(out.mask[item], plain.mask[0])
            torch.testing.assert_close(out.pred[item], plain.pred[0], atol=atol, rtol=0)


@pytest.mark.parametrize("dtype, atol", [(torch.float32, 1e-6), (torch.bfloat16, 0.05)])
def test_onednn_cpu_linear_agrees_with_torch_linear(dtype, atol):
    model = make_model(seed=2)
    torch.manual_seed(1)
    imgs = torch.randn(1, 3, 32, 32)
    args = (imgs, [0, 0, 0], [0.25, 0.5, 0.75], noise_for_seeds([0, 1, 2], 16))
    fused = pack_weights(model, CPU, dtype)
    if not fused.fused_linear:
        pytest.skip("this torch build has no oneDNN fused linear")
    plain = pack_weights(model, CPU, dtype, onednn=False)
    assert not plain.fused_linear
    with torch.inference_mode():
        a, b = packed_forward(fused, *args), packed_forward(plain, *args)
    torch.testing.assert_close(a.pred, b.pred, atol=atol, rtol=0)
    if dtype == torch.bfloat16:  # prepacked: oneDNN's blocked layout, stored once
        assert fused["blocks.0.mlp.fc1.weight"].layout == torch._mkldnn
    else:  # float32 weights stay the model's own tensors (no copy)
        assert fused["blocks.0.mlp.fc1.weight"].data_ptr() == model.blocks[0].mlp.fc1.weight.data_ptr()


def test_onednn_refused_where_unavailable():
    with pytest.raises(ValueError, match="oneDNN"):
        pack_weights(make_model(), torch.device("meta"), torch.float32, onednn=True)


def test_records_match_the_models_own_forward(models, images):
    records = evaluate(models, images, RATIOS, SEEDS, device="cpu")
    assert len(records) == 2 * 3 * len(RATIOS) * len(SEEDS)
    # ordered by model, image, ratio, seed
    assert [_key(r) for r in records] == [
        (m, i, "random", r, s) for m in ("a", "b") for i in range(3) for r in RATIOS for s in SEEDS
    ]
    for record in records[::5]:
        model = models[record.model]
        x = images[record.image : record.image + 1]
        with torch.inference_mode():
            plain = model(x, record.mask_ratio, mask_noise(record.seed, 16))
        assert record.masked_patches == int(plain.mask.sum()) == 16 - int(16 * (1 - record.mask_ratio))
        assert record.mask == "random"
        assert record.mask_hash == mask_hash(plain.mask[0])
        assert record.loss == pytest.approx(float(plain.loss[0]), rel=1e-5)


def test_every_mask_strategy_runs_each_cell_with_its_own_noise(models, images):
    masks = ("grid", "random", "block")
    records = evaluate(models, images[:2], [0.5, 0.75], [0, 4], masks=masks, batch_size=5)
    assert [_key(r) for r in records] == [
        (m, i, k, r, s) for m in ("a", "b") for i in range(2) for k in masks for r in (0.5, 0.75) for s in (0, 4)
    ]
    for record in records:
        x = images[record.image : record.image + 1]
        with torch.inference_mode():
            plain = models[record.model](x, record.mask_ratio, mask_noise(record.seed, 16, strategy=record.mask))
        assert record.masked_patches == 16 - int(16 * (1 - record.mask_ratio))
        assert record.mask_hash == mask_hash(plain.mask[0])
        assert record.loss == pytest.approx(float(plain.loss[0]), rel=1e-5)
    by_model = {m: [r.mask_hash for r in records if r.model == m] for m in ("a", "b")}
    assert by_model["a"] == by_model["b"]  # both checkpoints saw the same mask in every cell
    grid_075 = {r.mask_hash for r in records if r.mask == "grid" and r.mask_ratio == 0.75}
    random_075 = {r.mask_hash for r in records if r.mask == "random" and r.mask_ratio == 0.75}
    assert not grid_075 & random_075
    _assert_same_records(records, evaluate(models, images[:2], [0.5, 0.75], [0, 4], masks=masks[::-1]))


def test_pixel_metrics_agree_with_reconstruct(models):
    image = make_image(width=50, height=37, seed=4)
    (record,) = evaluate({"a": models["a"]}, [image], [0.75], [2], crop=True)
    single = reconstruct(models["a"], image, 0.75, 2, crop=True)
    assert record.mse == pytest.approx(single.metrics.mse, rel=1e-5)
    assert record.psnr == pytest.approx(single.metrics.psnr, rel=1e-5)
    assert record.loss == pytest.approx(single.metrics.loss, rel=1e-5)
    assert record.masked_patches == single.metrics.masked_patches == 12


def test_norm_pix_models_are_measured_honestly_as_reconstruct_shows_them():
    model = make_model(MAEConfig(**{**TINY_CONFIG.to_dict(), "norm_pix_loss": True}), seed=3)
    image = make_image(width=50, height=37, seed=5)
    records = evaluate({"n": model}, [image], [0.5, 0.75], [1], masks=("random", "block"), metrics=("ssim",))
    for record in records:
        single = reconstruct(model, image, record.mask_ratio, record.seed, strategy=record.mask, metrics=("ssim",))
        assert single.denorm == "honest"
        assert record.mse == pytest.approx(single.metrics.mse, rel=1e-4)
        assert record.mse == pytest.approx(single.norm_pix_gap.honest_mse, rel=1e-4)
        assert record.ssim == pytest.approx(single.metrics.ssim, abs=1e-4)
        assert record.loss == pytest.approx(single.metrics.loss, rel=1e-4)


def test_independent_of_batch_size_and_order(models, images):
    reference = evaluate(models, images, RATIOS, SEEDS, batch_size=64)
    for batch_size in (1, 5):
        _assert_same_records(evaluate(models, images, RATIOS, SEEDS, batch_size=batch_size), reference)
    # images, ratios, seeds and models in another order: same numbers for the same (model, image, ratio, seed)
    flipped = evaluate({"b": models["b"], "a": models["a"]}, images.flip(0), RATIOS[::-1], SEEDS[::-1], batch_size=7)
    flipped = [dataclasses.replace(r, image=2 - r.image) for r in flipped]
    _assert_same_records(flipped, reference)


def test_models_differ_but_masks_are_shared(models, images):
    records = evaluate(models, images[:1], [0.5], [0, 1])
    a, b = records[:2], records[2:]
    assert [r.masked_patches for r in a] == [r.masked_patches for r in b]
    assert [r.mask_hash for r in a] == [r.mask_hash for r in b]  # provably the same masks
    assert a[0].mask_hash != a[1].mask_hash  # and different seeds give different masks
    assert a[0].loss != pytest.approx(b[0].loss, rel=1e-3)


def test_bfloat16_close_to_float32_and_model_untouched(models, images):
    model = models["a"]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fp32 = evaluate({"a": model}, images, RATIOS, SEEDS)
    bf16 = evaluate({"a": model}, images, RATIOS, SEEDS, dtype="bfloat16")
    _assert_same_records(bf16, fp32, rtol=0.02)
    assert any(x.loss != y.loss for x, y in zip(bf16, fp32))  # it did run in another precision
    after = model.state_dict()
    assert all(after[k].dtype == torch.float32 and torch.equal(after[k], v) for k, v in before.items())


def test_cast_weights_are_reused_until_the_model_changes(images):
    model = make_model(seed=5)
    first = cached_pack_weights(model, CPU, torch.bfloat16)
    assert cached_pack_weights(model, CPU, torch.bfloat16) is first  # a second study casts nothing
    assert cached_pack_weights(model, CPU, torch.float32) is not first
    before = evaluate({"m": model}, images, [0.5], [0], dtype="bfloat16")
    with torch.no_grad():
        model.decoder_pred.bias.add_(1.0)  # an in-place update (training, a new checkpoint) invalidates the cast
    assert cached_pack_weights(model, CPU, torch.bfloat16) is not first
    after = evaluate({"m": model}, images, [0.5], [0], dtype="bfloat16")
    assert all(a.loss != b.loss for a, b in zip(after, before))
    model.load_state_dict(make_model(seed=6).state_dict())  # copied in place as well
    reloaded = evaluate({"m": model}, images, [0.5], [0], dtype="bfloat16")
    expected = evaluate({"m": make_model(seed=6)}, images, [0.5], [0], dtype="bfloat16")
    _assert_same_records(reloaded, expected, rtol=1e-6)


def test_image_likes_are_preprocessed_per_model(tmp_path):
    small = make_model(seed=0)
    large = make_model(MAEConfig(**{**TINY_CONFIG.to_dict(), "img_size": 48}), seed=0)
    pil = make_image(seed=1)
    path = tmp_path / "img.png"
    pil.save(path)
    array = np.asarray(pil)
    records = evaluate({"small": small, "large": large}, [path, pil, array], [0.5], [0])
    by_key = {(r.model, r.image): r for r in records}
    # the same pixels at three batch positions: equal up to the float rounding of the matmul blocking
    losses = [by_key[("small", k)].loss for k in range(3)]
    assert losses == pytest.approx([losses[0]] * 3, rel=1e-6)
    assert by_key[("large", 0)].masked_patches == 18  # 36 patches at 48 px
    tensor = preprocess(pil, 32).unsqueeze(0)
    (from_tensor,) = evaluate({"small": small}, tensor, [0.5], [0])
    assert from_tensor.loss == pytest.approx(by_key[("small", 0)].loss, rel=1e-6)


def test_iter_evaluate_batches_and_progress(models, images):
    calls = []
    batches = list(
        iter_evaluate(models, images, [0.5, 0.75], [0, 1], batch_size=5, progress=lambda d, t: calls.append((d, t)))
    )
    total = 2 * 3 * 2 * 2
    assert [len(b) for b in batches] == [5, 5, 2, 5, 5, 2]
    assert all(len({r.model for r in b}) == 1 for b in batches)
    assert calls[-1] == (total, total)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"mask_ratios": [0.5, 1.5]}, "1.5"),
        ({"mask_ratios": [0.0]}, "0.0"),
        ({"mask_ratios": [float("nan")]}, "nan"),
        ({"mask_ratios": [0.97]}, "keeps no patch"),
        ({"mask_ratios": []}, "mask_ratios"),
        ({"seeds": []}, "seeds"),
        ({"seeds": [1.5]}, "1.5"),
        ({"seeds": [True]}, "True"),
        ({"seeds": [-2]}, "-2"),
        ({"models": {}}, "models is empty"),
        ({"models": {"x": torch.nn.Linear(2, 2)}}, "MaskedAutoencoderViT"),
        ({"images": []}, "images is empty"),
        ({"images": torch.zeros(1, 3, 48, 48)}, "48x48"),
        ({"images": torch.zeros(3, 32, 32)}, r"\[N, 3, H, W\]"),
        ({"dtype": "float16"}, "float16"),
        ({"batch_size": 0}, "batch size"),
        ({"device": "banana"}, "banana"),
        ({"progress": 3}, "progress"),
        ({"masks": []}, "masks is empty"),
        ({"masks": "block"}, "masks must be a non-empty sequence"),
        ({"masks": ["random", "checkerboard"]}, "checkerboard"),
        ({"masks": ["custom"]}, "mask_from_patches"),
        ({"masks": ["block", "random", "block"]}, "'block' more than once"),
    ],
)
def test_validation(models, images, kwargs, match):
    arguments = {"models": {"a": models["a"]}, "images": images, "mask_ratios": [0.5], "seeds": [0]} | kwargs
    models_, images_, ratios_, seeds_ = (arguments.pop(k) for k in ("models", "images", "mask_ratios", "seeds"))
    with pytest.raises(ValueError, match=match):
        evaluate(models_, images_, ratios_, seeds_, **arguments)


def test_iter_evaluate_validates_when_called(models, images):
    with pytest.raises(ValueError, match="bfloat8"):
        iter_evaluate({"a": models["a"]}, images, [0.5], [0], dtype="bfloat8")  # no next() needed


def test_unreadable_image_names_its_index(models, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(ImageError, match=r"images\[1\]"):
        evaluate({"a": models["a"]}, [make_image(), bad], [0.5], [0])


def test_select_device():
    assert select_device("cpu") == CPU
    assert select_device(None).type in {"cpu", "cuda", "mps"}
    if not torch.cuda.is_available():
        assert select_device(None) == CPU or select_device(None).type == "mps"
        with pytest.raises(ValueError, match="CUDA is not available"):
            select_device("cuda")
    for device, message in (("meta", "cannot run this engine"), ("tpu", "unknown device"), ("xla", "cannot run")):
        with pytest.raises(ValueError, match=message):
            select_device(device)
    if torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA device"):
            select_device(f"cuda:{torch.cuda.device_count()}")


def test_images_are_decoded_on_the_prefetch_thread_in_batch_order(models, tmp_path, monkeypatch):
    import mae_core.evaluation.engine as engine

    paths = []
    for k in range(3):
        paths.append(tmp_path / f"img{k}.png")
        make_image(seed=k).save(paths[-1])
    expected = evaluate(models, [make_image(seed=k) for k in range(3)], [0.5, 0.75], [0])
    calls = []

    def spy(image, img_size, crop=False):
        calls.append((threading.current_thread().name, paths.index(image)))
        return preprocess(image, img_size, crop=crop)

    monkeypatch.setattr(engine, "preprocess", spy)
    records = evaluate(models, paths, [0.5, 0.75], [0], batch_size=3)
    assert all(name.startswith("mae-prefetch") for name, _ in calls)
    # batches of 3 items over 2 items per image: images [0, 1], [1, 2] per model, decoded in that order
    assert [index for _, index in calls] == [0, 1, 1, 2] * 2
    _assert_same_records(records, expected)


def test_records_before_an_unreadable_image_are_yielded(models, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    batches = iter_evaluate({"a": models["a"]}, [make_image(), make_image(seed=1), bad], [0.5], [0], batch_size=1)
    assert [r.image for r in next(batches)] == [0]  # image 2 is being read meanwhile; its error waits its turn
    assert [r.image for r in next(batches)] == [1]
    with pytest.raises(ImageError, match=r"images\[2\]"):
        next(batches)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_cuda_masks_equal_the_cpus(models, images, dtype):
    masks = ("random", "block", "grid")
    on_cpu = evaluate(models, images, RATIOS, SEEDS, dtype=dtype, device="cpu", masks=masks)
    on_cuda = evaluate(models, images, RATIOS, SEEDS, dtype=dtype, device="cuda", masks=masks)
    assert [(_key(r), r.masked_patches, r.mask_hash) for r in on_cuda] == [
        (_key(r), r.masked_patches, r.mask_hash) for r in on_cpu
    ]  # the noise is drawn on the CPU and moved, so every mask is the CPU's
    _assert_same_records(on_cuda, on_cpu, rtol=1e-3 if dtype == "float32" else 5e-2)  # cuDNN may use TF32 convs


# ---- optional metrics ----
def test_default_records_carry_ssim_detail_visible_loss_as_reconstruct_computes_them(models):
    pictures = [make_image(width=50, height=37, seed=4), make_image(seed=5)]
    records = evaluate({"a": models["a"]}, pictures, [0.5, 0.75], [0, 3], batch_size=3)
    for record in records:
        assert record.lpips is None  # no LPIPS weights in this test's TORCH_HOME, and not asked for
        single = reconstruct(models["a"], pictures[record.image], record.mask_ratio, record.seed).metrics
        for field in ("ssim", "detail", "visible_loss"):
            assert getattr(record, field) == pytest.approx(getattr(single, field), rel=1e-4, abs=1e-6), field


def test_metrics_chosen_per_call_and_lpips_from_standin_weights(models, images, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    add_lpips_standin(tmp_path / "torch")
    only = evaluate({"a": models["a"]}, images[:1], [0.5], [0], metrics=["ssim"])[0]
    assert only.ssim is not None and only.detail is None and only.visible_loss is None and only.lpips is None
    small = evaluate(models, images, [0.25, 0.75], [0, 3], batch_size=2, metrics=["lpips", "detail"])
    large = evaluate(models, images, [0.25, 0.75], [0, 3], batch_size=64, metrics=["lpips", "detail"])
    assert all(r.lpips is not None and r.lpips > 0 for r in small)
    by_key = {_key(r): r for r in large}
    for record in small:  # one LPIPS backbone pass per distinct image: results do not depend on batching
        other = by_key[_key(record)]
        assert record.lpips == pytest.approx(other.lpips, rel=1e-4) and record.detail == pytest.approx(other.detail)


def test_lpips_asked_for_without_weights_warns_once_and_is_left_empty(models, images, monkeypatch):
    monkeypatch.setenv("MAE_OFFLINE", "1")
    with pytest.warns(MetricSkippedWarning, match="lpips skipped.*alexnet-owt-7be5be79.pth") as caught:
        records = evaluate(models, images[:1], [0.5, 0.75], [0], metrics=["lpips", "ssim"])
    assert len(caught) == 1
    assert all(r.lpips is None and r.ssim is not None for r in records)


def test_unknown_metric_is_refused_before_any_work(models, images):
    with pytest.raises(ValueError, match="unknown metric 'fid'"):
        iter_evaluate(models, images, [0.5], [0], metrics=["ssim", "fid"])


def test_spread_is_each_images_mean_spread_over_all_the_seeds_as_mask_uncertainty_gives_it(models, images):
    seeds = [0, 3, 11, 12]
    expected = {}
    for batch_size in (1, 5, 64):  # whole seed groups per batch, whatever the batch size
        batches = list(
            iter_evaluate(
                models, images, [0.5, 0.75], seeds, batch_size=batch_size, masks=("random", "grid"), metrics=["spread"]
            )
        )
        assert all(len(batch) % len(seeds) == 0 for batch in batches)
        assert len(batches) == (2 * 12 if batch_size < 8 else 2)  # per model 12 groups of 4 seeds: one a batch, or all
        for record in (r for batch in batches for r in batch):
            group = (record.model, record.image, record.mask, record.mask_ratio)
            if group not in expected:
                model, image = models[record.model], images[record.image]
                uncertainty = mask_uncertainty(model, image, record.mask_ratio, seeds, strategy=record.mask)
                expected[group] = uncertainty.mean_spread
            # (abs: a grid repeats its mask over seeds, so its spread is float rounding, about 1e-8)
            assert record.spread == pytest.approx(expected[group], rel=1e-5, abs=1e-6), group
    assert len(expected) == 2 * 3 * 2 * 2 and all(value > 0 for value in expected.values())


def test_spread_of_one_seed_is_nan_and_without_spread_batches_stay_as_they_were(models, images):
    records = evaluate(models, images, [0.5], [7], metrics=["spread", "ssim"])
    assert all(math.isnan(r.spread) and r.ssim is not None for r in records)  # one mask: no spread to measure
    batches = list(iter_evaluate(models, images, [0.5, 0.75], [0, 1], batch_size=5, metrics=["ssim"]))
    assert [len(b) for b in batches] == [5, 5, 2, 5, 5, 2]
    assert all(r.spread is None for b in batches for r in b)


def test_spread_of_a_norm_pix_model_equals_mask_uncertainty():
    model = make_model(MAEConfig(**{**TINY_CONFIG.to_dict(), "norm_pix_loss": True}), seed=3)
    image = make_image(width=50, height=37, seed=5)
    records = evaluate({"n": model}, [image], [0.5], [1, 2, 3], batch_size=2, metrics=["spread"])
    expected = mask_uncertainty(model, image, 0.5, [1, 2, 3]).mean_spread
    assert {r.seed for r in records} == {1, 2, 3}
    assert all(r.spread == pytest.approx(expected, rel=1e-5) for r in records)
