"""Training data of the tiny pair: photographs shipped inside installed packages, cut into seeded random crops.

Crops and flips draw from an explicit ``numpy`` Generator, so the same seed gives the same batches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF
from PIL import Image

from mae_core.evaluation.preprocess import normalize


@dataclass(frozen=True)
class PackagedImage:
    """A photograph shipped inside an installed package, with the licence its package documents."""

    name: str
    package: str  # importable package holding the file
    path: str  # path inside the package
    licence: str

    def open(self) -> Image.Image:
        with resources.as_file(resources.files(self.package).joinpath(self.path)) as file:
            with Image.open(file) as img:
                return img.convert("RGB")  # grey images become 3 equal channels


# Licences as written in each package's own docstrings (skimage.data.<name>) and README (sklearn images).
TRAIN_IMAGES: tuple[PackagedImage, ...] = (
    PackagedImage("astronaut", "skimage", "data/astronaut.png", "public domain (NASA)"),
    PackagedImage("camera", "skimage", "data/camera.png", "CC0 (Lav Varshney)"),
    PackagedImage("brick", "skimage", "data/brick.png", "CC0 (CC0Textures)"),
    PackagedImage("grass", "skimage", "data/grass.png", "CC0 (DeviantArt, linolafett)"),
    PackagedImage("gravel", "skimage", "data/gravel.png", "CC0 (CC0Textures)"),
    PackagedImage("cell", "skimage", "data/cell.png", "CC0 (Paul Mueller et al.)"),
    PackagedImage("clock", "skimage", "data/clock_motion.png", "public domain (Stefan van der Walt)"),
    PackagedImage("coins", "skimage", "data/coins.png", "no known copyright restrictions (Brooklyn Museum)"),
    PackagedImage("hubble_deep_field", "skimage", "data/hubble_deep_field.jpg", "public domain (NASA)"),
    PackagedImage("immunohistochemistry", "skimage", "data/ihc.png", "no known copyright restrictions (CMMI)"),
    PackagedImage("retina", "skimage", "data/retina.jpg", "CC0 (Mikael Haggstrom)"),
    PackagedImage("text", "skimage", "data/text.png", "public domain (Wikipedia)"),
    PackagedImage("china", "sklearn.datasets.images", "china.jpg", "CC BY 2.0 (danielbuechele, Flickr)"),
)


def load_photos(images: tuple[PackagedImage, ...] = TRAIN_IMAGES, max_side: int = 512) -> list[torch.Tensor]:
    """Each photo as a uint8 tensor [3, H, W], downscaled (Lanczos) so that max(H, W) <= ``max_side``."""
    photos = []
    for item in images:
        img = item.open()
        scale = max_side / max(img.size)
        if scale < 1.0:
            img = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.LANCZOS)
        photos.append(torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1).contiguous())
    return photos


def crop_box(
    height: int, width: int, scale: tuple[float, float], rng: np.random.Generator
) -> tuple[int, int, int, int]:
    """(top, left, h, w) of a random-resized crop: area fraction in ``scale``, aspect ratio log-uniform in [3/4, 4/3]
    (Inception-style); falls back to the largest centred square after 10 rejected draws."""
    area = height * width
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
        w = round(math.sqrt(target * aspect))
        h = round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            top = int(rng.integers(0, height - h + 1))
            left = int(rng.integers(0, width - w + 1))
            return top, left, h, w
    side = min(height, width)
    return (height - side) // 2, (width - side) // 2, side, side


def sample_batch(
    photos: list[torch.Tensor], batch_size: int, img_size: int, scale: tuple[float, float], rng: np.random.Generator
) -> torch.Tensor:
    """[batch_size, 3, img_size, img_size] float32, ImageNet-normalised: random photo, random resized crop, flip."""
    crops = []
    for index in rng.integers(0, len(photos), size=batch_size):
        photo = photos[int(index)]
        top, left, h, w = crop_box(photo.shape[1], photo.shape[2], scale, rng)
        crop = TF.resized_crop(photo, top, left, h, w, [img_size, img_size], antialias=True)
        if rng.random() < 0.5:
            crop = TF.horizontal_flip(crop)
        crops.append(crop)
    return normalize(torch.stack(crops).float() / 255.0)
