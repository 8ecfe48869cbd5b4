"""The uncertainty section: spread maps over K masks and the per-patch difference map b - a, as handlers (checked
against the library on the same checkpoint files) and as the ``/uncertainty`` and ``/difference`` endpoints driven
by gradio_client on the launched app."""

from __future__ import annotations

from collections.abc import Iterator

import gradio as gr
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from mae_app import uncertainty_view
from mae_app.panels import SCALE_WIDTH, heatmap_with_scale
from mae_app.uncertainty_view import SQUARE_NOTE, UncertaintyView
from mae_core import load_model
from mae_core.evaluation.heatmap import DIVERGING_COLORMAP, shared_vmax, symmetric_limit
from mae_core.evaluation.patch_difference import patch_difference
from mae_core.evaluation.uncertainty import mask_uncertainty
from tests.fake_caches import add_lpips_standin
from tests.mae_app.helpers import NAMES, make_app, serve

SEEDS = tuple(range(3, 3 + 16))  # the Compare's seed 3 and K = 16 (the default)


@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_checkpoints) -> Iterator[str]:
    app = make_app(tmp_path_factory.mktemp("runs"), tiny_checkpoints)
    with serve(app) as (_, url):
        yield url


@pytest.fixture
def view(tiny_app) -> UncertaintyView:
    return UncertaintyView(tiny_app.model)


def pixels(path: str) -> np.ndarray:
    with Image.open(path) as img:
        assert img.format == "PNG"
        return np.asarray(img.convert("RGB"))


def expected_spread_maps(files, image: str, seeds=SEEDS, crop: bool = False) -> tuple[list, list[np.ndarray]]:
    """The library's uncertainty for both tiny checkpoints, and the two maps drawn on one scale."""
    results = [mask_uncertainty(load_model(files[name]), image, 0.5, seeds, crop=crop) for name in NAMES]
    covered = [r.coverage >= 2 for r in results]
    vmax = shared_vmax([r.spread for r in results], covered)
    maps = [heatmap_with_scale(r.spread, c, (32, 32), vmax, colormap="viridis") for r, c in zip(results, covered)]
    return results, maps


def expected_difference(files, image: str, metric: str = "mse", seeds=SEEDS, **mask):
    models = (load_model(files[name]) for name in NAMES)
    result = patch_difference(*models, image, 0.5, seeds, metric=metric, **mask)
    diff, mask = result.diff[0], result.masks[0]
    limit = symmetric_limit([diff], [mask])
    return result, heatmap_with_scale(diff, mask, (32, 32), limit, vmin=-limit, colormap=DIVERGING_COLORMAP)


def test_spread_maps_share_one_scale_and_the_note_gives_each_mean_spread(view, tiny_checkpoints, image_file):
    top, bottom, note = view.uncertainty(image_file, *NAMES, 0.5, 3, False, "random", 16)
    results, maps = expected_spread_maps(tiny_checkpoints, image_file)
    for path, expected in zip((top, bottom), maps):
        assert pixels(path).shape == (224, 224 + SCALE_WIDTH, 3)  # 32 px enlarged 7x, its colour bar beside it
        np.testing.assert_array_equal(pixels(path), expected)
    assert not np.array_equal(results[0].spread, results[1].spread)  # two checkpoints: a row mix-up could not pass
    assert f"**top** (tiny-a): mean spread {results[0].mean_spread:.4g}" in note
    assert f"**bottom** (tiny-b): mean spread {results[1].mean_spread:.4g}" in note
    assert "K = 16 masks (random, ratio 0.5, seeds 3-18" in note
    assert "fewer than 2 of the 16 masks" in note
    # a centre crop and fewer masks are other results, computed again
    _, _, cropped = view.uncertainty(image_file, *NAMES, 0.5, 3, True, "random", 2)
    results, _ = expected_spread_maps(tiny_checkpoints, image_file, seeds=(3, 4), crop=True)
    assert f"mean spread {results[0].mean_spread:.4g}" in cropped and "seeds 3-4" in cropped


def test_a_strategy_with_few_masks_says_how_many_of_the_k_are_distinct(view, tiny_checkpoints, image_file):
    _, _, note = view.uncertainty(image_file, *NAMES, 0.75, 0, False, "grid", 16)
    result = mask_uncertainty(load_model(tiny_checkpoints[NAMES[0]]), image_file, 0.75, range(16), strategy="grid")
    distinct = len({m.tobytes() for m in result.masks})
    assert distinct < 16 and f"Only {distinct} of the 16 masks are distinct (grid masks at this ratio" in note
    _, _, random_note = view.uncertainty(image_file, *NAMES, 0.25, 0, False, "random", 16)
    assert "distinct" not in random_note  # 4 of the tiny grid's 16 patches removed: 1820 masks, no repeat here


def test_difference_map_and_fractions_are_patch_differences(view, tiny_checkpoints, image_file):
    path, note = view.difference(image_file, *NAMES, 0.5, 3, False, "random", "", "mse", 16)
    result, expected = expected_difference(tiny_checkpoints, image_file)
    np.testing.assert_array_equal(pixels(path), expected)
    removed = int(result.masks[0].sum())
    assert f"this mask: b better on {result.b_better[0]:.1%} of its {removed} removed patches" in note
    assert f"seeds 3-18): b better on {result.fraction_b_better:.1%} of the removed patches" in note
    assert "a = top row (tiny-a), b = bottom row (tiny-b)" in note
    assert "blue: bottom row (b) better; red: top row (a) better" in note
    # the map is the Compare's own mask: seed 3's, as one seed gives it (to float rounding: a batch of 1 and one of
    # 16 may take different matrix kernels)
    alone, _ = expected_difference(tiny_checkpoints, image_file, seeds=(3,))
    np.testing.assert_array_equal(alone.masks[0], result.masks[0])
    np.testing.assert_allclose(alone.diff[0], result.diff[0], rtol=1e-5, atol=1e-7)


def test_lpips_without_weights_is_one_line_and_with_weights_matches_the_library(
    view, tiny_checkpoints, image_file, tmp_path, monkeypatch
):
    with pytest.raises(gr.Error) as info:
        view.difference(image_file, *NAMES, 0.5, 3, False, "random", "", "lpips", 4)
    assert "LPIPS needs AlexNet's weights" in info.value.message and "\n" not in info.value.message
    assert view.difference(image_file, *NAMES, 0.5, 3, False, "random", "", "mse", 4)[1]  # mse still works
    with pytest.raises(gr.Error, match="the difference metric must be one of mse, lpips, got 'ssim'"):
        view.difference(image_file, *NAMES, 0.5, 3, False, "random", "", "ssim", 4)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    add_lpips_standin(tmp_path / "torch")
    path, note = view.difference(image_file, *NAMES, 0.5, 3, False, "random", "", "lpips", 4)
    result, expected = expected_difference(tiny_checkpoints, image_file, "lpips", seeds=(3, 4, 5, 6))
    np.testing.assert_array_equal(pixels(path), expected)
    assert "per-patch `lpips`" in note and f"b better on {result.fraction_b_better:.1%}" in note


@pytest.mark.parametrize("masks", [1, 65, 2.5, "many", None])
def test_the_number_of_masks_is_checked_in_one_line(view, image_file, masks):
    for call in (view.uncertainty, view.difference):
        args = (image_file, *NAMES, 0.5, 3, False, "random")
        with pytest.raises(gr.Error, match=r"the number of masks must be a whole number from 2 to 64, got") as info:
            call(*args, masks) if call == view.uncertainty else call(*args, "", "mse", masks)
        assert "\n" not in info.value.message


def test_a_drawn_mask_has_no_spread_but_its_difference_map_and_keep_aspect_stays_square(
    view, tiny_checkpoints, image_file
):
    with pytest.raises(gr.Error, match="The spread over masks needs seeded masks"):
        view.uncertainty(image_file, *NAMES, 0.5, 3, False, "draw")
    path, note = view.difference(image_file, *NAMES, 0.5, 3, False, "custom", "0, 5, 6", "mse", 16)
    result, expected = expected_difference(tiny_checkpoints, image_file, strategy="custom", removed=[0, 5, 6])
    assert sorted(np.flatnonzero(result.masks[0])) == [0, 5, 6]
    np.testing.assert_array_equal(pixels(path), expected)
    assert "under the Compare's mask (drawn, 3 patches, ratio 0.1875)" in note
    assert f"this mask: b better on {result.b_better[0]:.1%} of its 3 removed patches" in note
    assert "a drawn mask is one mask: no share over K masks" in note
    drawn = view.when_shown(True, False, image_file, *NAMES, 0.5, 3, False, "custom", "0, 5, 6", 16, "mse")
    assert drawn[:2] == (None, None) and drawn[2].startswith("**Not done:**") and "needs seeded masks" in drawn[2]
    assert "\n" not in drawn[2] and (drawn[3], drawn[4]) == (path, note)  # the difference kept: the same file
    square = view.when_shown(True, False, image_file, *NAMES, 0.5, 3, False, "random", "", 16, "mse")
    native = view.when_shown(True, True, image_file, *NAMES, 0.5, 3, False, "random", "", 16, "mse")
    assert native[:2] == square[:2] and native[3] == square[3]  # the same maps, on the square input
    assert native[2].endswith(f"_{SQUARE_NOTE}_") and native[4].endswith(f"_{SQUARE_NOTE}_")
    assert SQUARE_NOTE not in square[2]


def test_closed_section_computes_nothing_and_a_metric_switch_reuses_the_spreads(view, image_file, monkeypatch):
    calls = []
    real = uncertainty_view.run_seeds
    monkeypatch.setattr(uncertainty_view, "run_seeds", lambda *a, **k: calls.append(a[2:4]) or real(*a, **k))
    args = (image_file, *NAMES, 0.5, 0, False, "random", "", 16)
    assert all(isinstance(out, type(gr.skip())) for out in view.when_shown(False, False, *args, "mse"))
    assert not calls and not len(view.spreads) and not len(view.differences)
    first = view.when_shown(True, False, *args, "mse")
    # one packed forward per checkpoint for both parts: the spread and the difference share the K reconstructions
    assert len(calls) == 2 and len(view.differences) == 1 and len(view.spreads) == 2
    lpips = view.when_shown(True, False, *args, "lpips")  # no LPIPS weights here: said in the note
    assert lpips[:3] == first[:3] and lpips[3] is None and "LPIPS needs" in lpips[4]
    assert view.when_shown(True, False, *args, "mse") == first  # reopened: the same files, nothing recomputed
    assert len(calls) == 2 and len(view.differences) == 1


def test_endpoints_are_named_and_their_outputs_distinct(served):
    endpoints = Client(served, verbose=False).view_api(print_info=False, return_format="dict")["named_endpoints"]
    uncertainty, difference = endpoints["/uncertainty"], endpoints["/difference"]
    compare = ["image", "first", "second", "mask_ratio", "seed", "crop", "strategy"]
    assert [p["parameter_name"] for p in uncertainty["parameters"]] == [*compare, "masks"]
    assert [p["parameter_name"] for p in difference["parameters"]] == [*compare, "removed", "metric", "masks"]
    assert [p["parameter_default"] for p in difference["parameters"][-3:]] == ["", "mse", 16]
    labels = [r["label"] for r in uncertainty["returns"] + difference["returns"]]
    assert len(labels) == 5 and len(set(labels)) == 5, labels


def test_uncertainty_and_difference_over_http(served, tiny_checkpoints, image_file):
    client = Client(served, verbose=False)
    top, bottom, note = client.predict(
        handle_file(image_file), *NAMES, 0.5, 3, False, "random", 8, api_name="/uncertainty"
    )
    results, maps = expected_spread_maps(tiny_checkpoints, image_file, seeds=tuple(range(3, 11)))
    for path, expected in zip((top, bottom), maps):
        np.testing.assert_array_equal(pixels(path), expected)
    assert f"mean spread {results[1].mean_spread:.4g}" in note and "K = 8 masks" in note
    path, note = client.predict(
        image=handle_file(image_file), mask_ratio=0.5, seed=3, metric="mse", masks=8, api_name="/difference"
    )
    result, expected = expected_difference(tiny_checkpoints, image_file, seeds=tuple(range(3, 11)))
    np.testing.assert_array_equal(pixels(path), expected)
    assert f"b better on {result.fraction_b_better:.1%} of the removed patches" in note
    with pytest.raises(AppError, match="from 2 to 64, got 65"):
        client.predict(handle_file(image_file), *NAMES, 0.5, 3, False, "random", 65, api_name="/uncertainty")
    drawn, note = client.predict(
        image=handle_file(image_file), strategy="draw", removed="0, 5", api_name="/difference"
    )  # a drawn mask: the map of that one mask
    result, expected = expected_difference(tiny_checkpoints, image_file, strategy="custom", removed=[0, 5])
    np.testing.assert_array_equal(pixels(drawn), expected)
    assert "drawn, 2 patches" in note
    with pytest.raises(AppError, match="needs seeded masks"):
        client.predict(image=handle_file(image_file), strategy="draw", api_name="/uncertainty")
    with pytest.raises(AppError, match=r"'ssim' .* is not in the list of choices: \['mse', 'lpips'\]"):
        client.predict(image=handle_file(image_file), metric="ssim", api_name="/difference")
