"""Preprocessing: the official demo's arithmetic, plus every odd input mode users actually upload."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from mae_core.evaluation.preprocess import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImageError,
    denormalize,
    load_image,
    normalize,
    preprocess,
    to_uint8,
)
from tests.conftest import make_image


def official_demo_preprocess(img: Image.Image, size: int) -> torch.Tensor:
    """The official notebook's steps, written out: resize, /255, normalise in float64, cast at the model."""
    arr = np.array(img.resize((size, size))) / 255.0
    arr = (arr - IMAGENET_MEAN) / IMAGENET_STD
    return torch.tensor(arr).permute(2, 0, 1).float()


def test_rgb_matches_official_demo(rgb_image):
    assert torch.equal(preprocess(rgb_image, 32), official_demo_preprocess(rgb_image, 32))


def test_path_and_array_inputs_match_pil(tmp_path, rgb_image):
    path = tmp_path / "img.png"
    rgb_image.save(path)
    expected = preprocess(rgb_image, 32)
    assert torch.equal(preprocess(path, 32), expected)
    assert torch.equal(preprocess(str(path), 32), expected)
    assert torch.equal(preprocess(np.asarray(rgb_image), 32), expected)
    assert torch.equal(preprocess(path.read_bytes(), 32), expected)


def test_exif_orientation_is_applied(tmp_path):
    img = make_image(40, 20)  # landscape pixels
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display": the photo is really portrait
    path = tmp_path / "rotated.jpg"
    img.save(path, exif=exif)
    loaded = load_image(path)
    assert loaded.size == (20, 40)


@pytest.mark.parametrize("mode", ["L", "1", "P", "CMYK", "LA", "RGBA", "YCbCr"])
def test_pil_modes_become_rgb(mode):
    img = make_image(mode=mode)
    out = load_image(img)
    assert out.mode == "RGB" and out.size == img.size
    assert preprocess(img, 32).shape == (3, 32, 32)


def test_transparent_pixels_are_composited_over_white():
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)
    rgba[..., 0] = 255  # red, fully transparent
    out = np.asarray(load_image(Image.fromarray(rgba, "RGBA")))
    assert (out == 255).all()


def test_palette_png_with_transparency(tmp_path):
    img = make_image().convert("P")
    path = tmp_path / "pal.png"
    img.save(path, transparency=0)
    assert load_image(path).mode == "RGB"


def test_sixteen_bit_grayscale_png_scales_to_eight_bit(tmp_path):
    arr = np.full((16, 16), 65535, dtype=np.uint16)
    arr[:8] = 0
    path = tmp_path / "deep.png"
    Image.fromarray(arr).save(path)
    out = np.asarray(load_image(path))
    assert out[:8].max() == 0 and out[8:].min() == 255


def test_arrays_of_other_dtypes():
    assert np.asarray(load_image(np.ones((4, 4, 3), dtype=np.float32))).min() == 255
    assert np.asarray(load_image(np.full((4, 4), 65535, dtype=np.uint16))).min() == 255
    assert np.asarray(load_image(np.zeros((4, 4, 1), dtype=bool))).max() == 0


def test_float_images_are_unit_range_and_overshoots_are_clipped():
    bicubic = np.full((4, 4, 3), 0.5, dtype=np.float32)
    bicubic[0, 0] = 1.0001  # the ringing of a bicubic resize of an image in [0, 1]
    bicubic[0, 1] = -0.004
    out = np.asarray(load_image(bicubic))
    assert out[0, 0].tolist() == [255] * 3 and out[0, 1].tolist() == [0] * 3
    assert out[1:].min() == out[1:].max() == 128  # not divided by 255: mid-grey stays mid-grey
    for scale in (255.0, 1.02, -0.5):
        with pytest.raises(ImageError, match=r"float image must hold values in \[0, 1\].*divide 0-255 data by 255"):
            load_image(np.full((4, 4), scale, dtype=np.float64))


def test_float_tiff_files_follow_the_same_rule(tmp_path):
    path = tmp_path / "float.tif"
    Image.fromarray(np.full((4, 4), 0.25, dtype=np.float32), "F").save(path)
    assert np.asarray(load_image(path)).max() == 64
    Image.fromarray(np.full((4, 4), 200.0, dtype=np.float32), "F").save(path)
    with pytest.raises(ImageError, match="found 200 to 200"):
        load_image(path)


def test_centre_crop_keeps_aspect():
    img = Image.new("RGB", (60, 20), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 20, 20))  # red left third: cropped away
    cropped = to_uint8(preprocess(img, 16, crop=True))
    squashed = to_uint8(preprocess(img, 16, crop=False))
    assert cropped[..., 0].max() == 0  # no red left after the centre crop
    assert squashed[..., 0].max() > 200


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "empty"),
        (b"not an image at all", "not an image"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "corrupt|not an image"),
    ],
)
def test_bad_files_raise_image_error(tmp_path, payload, reason):
    path = tmp_path / "bad.png"
    path.write_bytes(payload)
    with pytest.raises(ImageError, match=reason):
        load_image(path)


def test_truncated_jpeg(tmp_path):
    buf = io.BytesIO()
    make_image(64, 64).save(buf, "JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageError, match="truncated or corrupt"):
        load_image(path)


def test_huge_header_is_refused_before_decoding(tmp_path):
    path = tmp_path / "big.png"
    Image.new("1", (5000, 3000)).save(path)  # 15 M pixels, a few KB on disk
    with pytest.raises(ImageError, match="5000x3000 pixels is over the limit"):
        load_image(path, max_pixels=10_000_000)
    bomb = tmp_path / "bomb.png"
    Image.new("1", (20000, 20000)).save(bomb)  # 400 M pixels: Pillow itself calls it a bomb
    for limit in (64_000_000, 1_000_000):  # above and below Pillow's own threshold: our limit is always named
        with pytest.raises(ImageError, match="decompression bomb") as refused:
            load_image(bomb, max_pixels=limit)
        assert f"over the limit of {limit:,} pixels" in str(refused.value)
        assert "178956970" not in str(refused.value) and "89478485" not in str(refused.value)  # Pillow's numbers


def test_missing_file_and_wrong_type():
    with pytest.raises(ImageError, match="no such file"):
        load_image("/nonexistent/x.png")
    with pytest.raises(ImageError, match="accepted"):
        load_image(3.5)
    with pytest.raises(ImageError, match="HxW"):
        load_image(np.zeros((2, 2, 2, 2)))


def test_unit_pixels_invert_normalisation(rgb_image):
    x = preprocess(rgb_image, 32)
    expected = torch.from_numpy(np.asarray(rgb_image.resize((32, 32)), dtype=np.float32) / 255).permute(2, 0, 1)
    assert torch.allclose(denormalize(x), expected, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_normalize_and_denormalize_are_inverse_on_images_and_batches(dtype):
    unit = torch.rand(2, 3, 5, 4, generator=torch.Generator().manual_seed(0)).to(dtype)
    x = normalize(unit)
    assert x.dtype == dtype and x.shape == unit.shape
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    expected = (unit.double() - mean) / std
    assert torch.allclose(x.double(), expected, atol=0.05 if dtype == torch.bfloat16 else 1e-6)
    assert torch.equal(normalize(unit[1]), x[1])  # one image [3, H, W] is the batch's row
    tolerance = 0.05 if dtype == torch.bfloat16 else 1e-6
    assert torch.allclose(denormalize(x).double(), unit.double(), atol=tolerance)


def test_channels_last_axis_and_wrong_channel_counts():
    pixels = torch.rand(2, 7, 16, 3)  # [N, L, p*p, C]: patch pixels, channels fastest
    mean, std = torch.tensor(IMAGENET_MEAN, dtype=torch.float32), torch.tensor(IMAGENET_STD, dtype=torch.float32)
    assert torch.equal(denormalize(pixels, dim=-1), pixels * std + mean)
    assert torch.equal(normalize(pixels, dim=-1), (pixels - mean) / std)
    with pytest.raises(ValueError, match="3 RGB channels on axis -3"):
        normalize(torch.zeros(1, 4, 8, 8))
    with pytest.raises(ValueError, match="axis -1"):
        denormalize(torch.zeros(2, 5), dim=-1)


def test_a_height_width_size_resizes_or_crops_to_that_aspect():
    from PIL import Image

    image = Image.new("RGB", (300, 100), (0, 0, 0))
    image.paste((255, 255, 255), (0, 0, 50, 100))  # a white band on the left sixth
    squashed = preprocess(image, (32, 48))
    assert squashed.shape == (3, 32, 48)
    cropped = preprocess(image, (32, 48), crop=True)  # the central 150 x 100: the band is cut away
    assert cropped.shape == (3, 32, 48)
    assert squashed[:, :, 0].mean() > 1.5 and cropped[:, :, 0].mean() < -1.5
    assert torch.equal(preprocess(image, 32, crop=True), preprocess(image, (32, 32), crop=True))


@pytest.mark.parametrize(
    "width, height, expected",
    [
        (480, 320, (320, 480)),
        (451, 300, (304, 448)),
        (4000, 3000, (768, 1024)),
        (5, 900, (896, 16)),
        (1030, 1030, (1024, 1024)),
    ],
)
def test_native_size_keeps_the_aspect_on_whole_patches_within_the_limit(width, height, expected):
    from mae_core.evaluation.preprocess import native_size

    assert native_size(width, height, 16, 1024) == expected
