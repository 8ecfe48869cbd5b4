"""Turning what users hand us (paths, PIL images, arrays) into the model's normalised input.

The official demo resizes with PIL bicubic to the model's size, divides by 255 and normalises with the ImageNet
mean/std, in float64, casting to float32 at the model. It asserts a 3-channel image; here every common mode is
converted to RGB first (EXIF orientation, grayscale, RGBA/LA/palette over white, CMYK, 16-bit and float images),
and a centre crop can replace the squash.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

if TYPE_CHECKING:
    import torch

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406])
IMAGENET_STD = np.array([0.229, 0.224, 0.225])

MAX_IMAGE_PIXELS = 64_000_000  # 8000 x 8000; larger headers are refused before decoding (decompression bombs)
MAX_IMAGE_BYTES = 64 * 1024 * 1024
# float images are [0, 1]; resampling overshoots this much (bicubic ringing) and is clipped, anything more is refused
FLOAT_OVERSHOOT = 0.01

ImageLike = str | os.PathLike | bytes | Image.Image | np.ndarray


class ImageError(ValueError):
    """An input that is not a usable image; the message says what was wrong and what is accepted."""


def load_image(source: ImageLike, *, max_pixels: int = MAX_IMAGE_PIXELS) -> Image.Image:
    """Any accepted input -> an upright 8-bit RGB PIL image. Raises :class:`ImageError` with a readable reason."""
    if isinstance(source, Image.Image):
        return _to_rgb(ImageOps.exif_transpose(source) or source)
    if isinstance(source, np.ndarray):
        return _array_to_rgb(source)
    if isinstance(source, bytes):
        return _open(io.BytesIO(source), "the given bytes", max_pixels)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise ImageError(f"{path}: no such file")
        size = path.stat().st_size
        if size == 0:
            raise ImageError(f"{path.name}: the file is empty")
        if size > MAX_IMAGE_BYTES:
            raise ImageError(f"{path.name}: {size / 2**20:.0f} MiB is over the {MAX_IMAGE_BYTES // 2**20} MiB limit")
        with path.open("rb") as handle:
            return _open(handle, path.name, max_pixels)
    raise ImageError(
        f"cannot read an image from {type(source).__name__}; accepted: a file path, bytes, a PIL image "
        "or an HxW / HxWx3 / HxWx4 array"
    )


def _open(handle, name: str, max_pixels: int) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(handle)
            width, height = img.size  # from the header: nothing decoded yet
            if width * height > max_pixels:
                raise ImageError(f"{name}: {width}x{height} pixels is {_over_limit(max_pixels)}")
            img.load()
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not an image file Pillow can read (PNG, JPEG, WebP, BMP, TIFF, GIF...)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Pillow refuses the header before we see its size; its own threshold is not ours, so it is not quoted
        refused = f"{name}: refused as a possible decompression bomb: the image is {_over_limit(max_pixels)}"
        raise ImageError(refused) from None
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageError(f"{name}: the image is truncated or corrupt ({err})") from None
    return _to_rgb(ImageOps.exif_transpose(img) or img)


def _over_limit(max_pixels: int) -> str:
    side = int(max_pixels**0.5)
    return f"over the limit of {max_pixels:,} pixels (about {side} x {side}); downscale the image first"


def _to_rgb(img: Image.Image) -> Image.Image:
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return _array_to_rgb(np.asarray(img), sixteen_bit=mode.startswith("I"))
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        mode = img.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    try:
        return img.convert("RGB")  # L, 1, CMYK, YCbCr, HSV...
    except (ValueError, OSError) as err:
        raise ImageError(f"cannot convert an image of mode {mode!r} to RGB ({err})") from None


def _array_to_rgb(array: np.ndarray, sixteen_bit: bool = False) -> Image.Image:
    arr = np.asarray(array)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in (3, 4)):
        raise ImageError(f"an image array must be HxW, HxWx3 or HxWx4, got shape {list(arr.shape)}")
    if arr.size == 0:
        raise ImageError(f"the image array is empty (shape {list(arr.shape)})")
    if arr.dtype == np.uint8:
        unit = arr.astype(np.float64) / 255.0
    elif arr.dtype == bool:
        unit = arr.astype(np.float64)
    elif arr.dtype == np.uint16 or (np.issubdtype(arr.dtype, np.integer) and (sixteen_bit or arr.max() > 255)):
        unit = arr.astype(np.float64) / 65535.0
    elif np.issubdtype(arr.dtype, np.integer):
        unit = arr.astype(np.float64) / 255.0
    elif np.issubdtype(arr.dtype, np.floating):
        unit = _float_unit(arr)
    else:
        raise ImageError(f"unsupported image array dtype {arr.dtype}; use uint8, uint16, bool or float")
    img8 = np.clip(np.round(unit * 255.0), 0, 255).astype(np.uint8)
    if img8.ndim == 2:
        return Image.fromarray(img8, "L").convert("RGB")
    if img8.shape[-1] == 4:
        return _to_rgb(Image.fromarray(img8, "RGBA"))
    return Image.fromarray(img8, "RGB")


def _float_unit(arr: np.ndarray) -> np.ndarray:
    """Float pixels are [0, 1], never guessed from the maximum: a resampling overshoot within ``FLOAT_OVERSHOOT``
    is clipped, anything further out is refused with the way to scale it."""
    if not np.isfinite(arr).all():
        raise ImageError("the image array contains NaN or infinite values")
    low, high = float(arr.min()), float(arr.max())
    if low < -FLOAT_OVERSHOOT or high > 1.0 + FLOAT_OVERSHOOT:
        raise ImageError(
            f"a float image must hold values in [0, 1], found {low:.6g} to {high:.6g}; "
            "divide 0-255 data by 255 (or pass it as uint8) and rescale other ranges to [0, 1]"
        )
    return np.clip(arr.astype(np.float64), 0.0, 1.0)


ImageSize = int | tuple[int, int]  # a square side, or (height, width) in pixels


def image_hw(img_size: ImageSize) -> tuple[int, int]:
    """(height, width) of a square side or a (height, width) pair; ``ValueError`` unless positive integers."""
    pair = (img_size, img_size) if isinstance(img_size, (int, np.integer)) else tuple(img_size)
    if len(pair) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1 for v in pair):
        raise ValueError(f"an image size must be a positive integer or (height, width), got {img_size!r}")
    return int(pair[0]), int(pair[1])


def native_size(width: int, height: int, patch_size: int, max_side: int) -> tuple[int, int]:
    """(H, W) closest to an image's own ``width`` x ``height`` that a model takes: the aspect ratio kept, scaled
    down when a side is over ``max_side``, each side rounded to a multiple of ``patch_size`` (at least one patch,
    at most ``max_side``)."""
    scale = min(1.0, max_side / max(width, height))
    limit = max_side // patch_size * patch_size

    def side(pixels: int) -> int:
        return min(limit, max(patch_size, round(pixels * scale / patch_size) * patch_size))

    return side(height), side(width)


def fit_image(image: Image.Image, img_size: ImageSize, crop: bool = False) -> Image.Image:
    """RGB image -> ``img_size`` (a side, or (height, width)) with PIL bicubic; ``crop`` takes the largest central
    region of the target's aspect ratio instead of squashing (a square: the central square)."""
    height, width = image_hw(img_size)
    if crop:
        source_w, source_h = image.size
        scale = min(source_w / width, source_h / height)  # the largest target-shaped box that fits
        crop_w = max(1, min(source_w, round(width * scale)))
        crop_h = max(1, min(source_h, round(height * scale)))
        left, top = (source_w - crop_w) // 2, (source_h - crop_h) // 2
        image = image.crop((left, top, left + crop_w, top + crop_h))
    return image.resize((width, height), Image.Resampling.BICUBIC)


def preprocess(image: ImageLike, img_size: ImageSize = 224, crop: bool = False) -> torch.Tensor:
    """Image-like -> [3, H, W] float32, ImageNet-normalised (float64 maths, as the official demo); ``img_size`` is
    a side (square, the default 224) or (H, W)."""
    import torch  # here, not at import: reading images needs no torch

    rgb = fit_image(load_image(image), img_size, crop)
    unit = torch.from_numpy(np.asarray(rgb, dtype=np.float64) / 255.0).permute(2, 0, 1)  # [3, H, W] float64
    return normalize(unit).float().contiguous()


def normalize(x01: torch.Tensor, *, dim: int = -3) -> torch.Tensor:
    """RGB in [0, 1] -> ImageNet-normalised, ``(x - mean) / std`` along the channel axis ``dim``.

    ``dim=-3`` fits images ([3, H, W] and [N, 3, H, W]); ``dim=-1`` fits channels-last data such as patch pixels
    reshaped to [..., p*p, 3]. The result keeps the input's dtype and device."""
    mean, std = _channel_stats(x01, dim)
    return (x01 - mean) / std


def denormalize(x: torch.Tensor, *, dim: int = -3) -> torch.Tensor:
    """ImageNet-normalised -> RGB in [0, 1] units (not clipped), ``x * std + mean``; the inverse of
    :func:`normalize`, with the same ``dim`` convention, dtype and device."""
    mean, std = _channel_stats(x, dim)
    return x * std + mean


def _channel_stats(x: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ImageNet mean and std shaped to broadcast along axis ``dim`` (negative) of ``x``."""
    import torch  # here, not at import: reading images needs no torch

    if not -x.dim() <= dim < 0 or x.shape[dim] != len(IMAGENET_MEAN):
        raise ValueError(f"need {len(IMAGENET_MEAN)} RGB channels on axis {dim}, got shape {list(x.shape)}")
    shape = (len(IMAGENET_MEAN),) + (1,) * (-dim - 1)
    mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device).view(shape)
    std = torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device).view(shape)
    return mean, std


def display_levels(x: torch.Tensor) -> torch.Tensor:
    """Normalised [..., 3, H, W] -> the 0-255 levels (int32, same shape) the official demo displays: de-normalised,
    scaled, clipped and truncated. The panels are these levels; the image metrics compare them / 255."""
    import torch  # here, not at import: reading images needs no torch

    return torch.clip(denormalize(x.float()) * 255, 0, 255).int()


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """Normalised [3, H, W] -> [H, W, 3] uint8, clipped and truncated as the official demo displays it."""
    import torch  # here, not at import: reading images needs no torch

    return display_levels(x).permute(1, 2, 0).to(torch.uint8).cpu().numpy()
