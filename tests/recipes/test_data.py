"""Training data: packaged photos, seeded random-resized crops, normalised batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from recipes.tiny_pair.data import TRAIN_IMAGES, crop_box, load_photos, sample_batch


def test_crop_box_stays_inside_the_photo_and_follows_the_generator():
    boxes = [crop_box(300, 451, (0.08, 1.0), np.random.default_rng(7)) for _ in range(2)]
    assert boxes[0] == boxes[1]
    rng = np.random.default_rng(0)
    for _ in range(200):
        top, left, h, w = crop_box(300, 451, (0.08, 1.0), rng)
        assert 0 <= top and top + h <= 300 and 0 <= left and left + w <= 451
        assert 0.07 * 300 * 451 <= h * w <= 300 * 451


def test_training_photos_are_installed_and_distinct_from_examples():
    names = {item.name for item in TRAIN_IMAGES}
    assert len(names) == len(TRAIN_IMAGES) >= 10
    examples = {p.stem for p in (Path(__file__).resolve().parents[2] / "examples").glob("*.jpg")}
    assert examples and not examples & names
    assert TRAIN_IMAGES[0].open().mode == "RGB"


def test_batches_are_normalised_crops_that_follow_the_generator():
    photos = load_photos(TRAIN_IMAGES[:2], max_side=96)
    assert all(p.dtype == torch.uint8 and p.shape[0] == 3 and max(p.shape[1:]) <= 96 for p in photos)
    batches = [sample_batch(photos, 4, 32, (0.5, 1.0), np.random.default_rng(3)) for _ in range(2)]
    assert batches[0].shape == (4, 3, 32, 32) and torch.equal(batches[0], batches[1])
    assert batches[0].min() < 0 < batches[0].max()  # ImageNet-normalised, not [0, 1]
