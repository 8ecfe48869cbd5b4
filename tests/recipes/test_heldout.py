"""Held-out scores: the mean-colour baseline, the error and the ``detail`` metric on the removed region."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mae_core.evaluation.engine import evaluate
from recipes.tiny_pair.heldout import example_images, heldout_scores
from tests.conftest import make_model


def test_flat_images_have_a_perfect_mean_fill_and_no_baseline_texture():
    model = make_model(seed=0)
    flat = [Image.new("RGB", (40, 40), colour) for colour in ((200, 30, 30), (10, 120, 250))]
    scores = heldout_scores(model, flat, [0, 1], 0.75)
    assert scores.mean_fill_mse == pytest.approx(0.0, abs=1e-10)
    # an untrained model paints noise where the photo is flat: above 1, and within the flat truth's floor (255)
    assert scores.mse > 0 and 1.5 < scores.detail <= 255


def test_scores_are_the_mean_over_seeds():
    model = make_model(seed=0)
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)) for _ in range(2)]
    both = heldout_scores(model, images, [0, 1])
    singles = [heldout_scores(model, images, [seed]) for seed in (0, 1)]
    assert both.mse == pytest.approx((singles[0].mse + singles[1].mse) / 2)


def test_detail_is_the_median_of_what_evaluate_reports():
    model = make_model(seed=1)
    images = example_images()[:2]
    records = evaluate({"m": model}, images, [0.75], [0, 1, 2], metrics=["detail"])
    expected = float(np.median([r.detail for r in records]))
    assert heldout_scores(model, images, [0, 1, 2]).detail == pytest.approx(expected, rel=1e-6)


def test_example_images_are_the_held_out_set():
    images = example_images()
    assert len(images) >= 4 and all(im.mode == "RGB" for im in images)
