"""UI values -> engine arguments: ratio grids, seed lists, mask strategies, drawn patches; bad values as gr.Error."""

from __future__ import annotations

import gradio as gr
import numpy as np
import pytest

from mae_app.inputs import (
    compare_mask,
    compare_strategy,
    painted_pixels,
    ratio_grid,
    removed_patches,
    seed_list,
    sweep_strategies,
)


def test_ratio_grid_includes_both_ends_and_rounds():
    assert ratio_grid(0.1, 0.9, 0.2) == (0.1, 0.3, 0.5, 0.7, 0.9)
    assert ratio_grid(0.3, 0.3, 0.1) == (0.3,)
    assert 0.3 in ratio_grid(0.1, 0.3, 0.1)  # not 0.30000000000000004


@pytest.mark.parametrize(("low", "high", "step"), [(0.0, 0.5, 0.1), (0.6, 0.5, 0.1), (0.1, 1.0, 0.1), (0.1, 0.5, 0)])
def test_ratio_grid_rejects_bad_ranges(low, high, step):
    with pytest.raises(gr.Error):
        ratio_grid(low, high, step)


def test_seed_list():
    assert seed_list(5, 3) == (5, 6, 7)
    for first, count in ((0, 0), (0, 2.5), (-1, 2), (0, None)):
        with pytest.raises(gr.Error):
            seed_list(first, count)


def test_compare_strategy_names_draw_and_custom_alike():
    assert [compare_strategy(s) for s in ("random", "block", "grid", "custom", "draw", None)] == [
        "random",
        "block",
        "grid",
        "custom",
        "custom",
        "random",
    ]
    with pytest.raises(gr.Error, match="'spiral'.*draw"):
        compare_strategy("spiral")


def test_compare_mask_is_the_seed_and_reconstructs_mask_arguments():
    assert compare_mask(4.0, "block", "ignored") == (4, {"strategy": "block"})
    assert compare_mask(0, "draw", "3, 1") == (0, {"strategy": "custom", "removed": [1, 3]})
    with pytest.raises(gr.Error, match="no patch is removed"):
        compare_mask(0, "custom", "")
    with pytest.raises(gr.Error, match="seed must be a whole number"):
        compare_mask(1.5, "random", "")


def test_sweep_strategies_are_several_seeded_ones_each_once():
    assert sweep_strategies(["grid", "random", "grid"]) == ("grid", "random")
    assert sweep_strategies("block") == ("block",)
    for bad, message in (([], "at least one"), (None, "at least one"), (["custom"], "drawn"), (["x"], "'x'")):
        with pytest.raises(gr.Error, match=message):
            sweep_strategies(bad)


@pytest.mark.parametrize("text", ["3, 4, 17", "[3, 4, 17]", "17 3\n4", "3;4;17;4", [17, 4, 3]])
def test_removed_patches_reads_lists_of_indices(text):
    assert removed_patches(text) == [3, 4, 17]


@pytest.mark.parametrize("text, message", [("", "no patch"), (None, "no patch"), ("1, -2", "whole"), ("a", "whole")])
def test_removed_patches_refuses_what_is_not_a_list_of_indices(text, message):
    with pytest.raises(gr.Error, match=message):
        removed_patches(text)


def test_painted_pixels_reads_the_layers_alpha():
    layer = np.zeros((10, 12, 4), dtype=np.uint8)
    layer[2:4, 3:6, 3] = 255
    layer[5, 5, 3] = 127  # a faint brush edge: under half opaque
    second = np.zeros((10, 12, 4), dtype=np.uint8)
    second[9, 11, 3] = 128
    painted = painted_pixels({"background": np.zeros((10, 12, 4)), "layers": [layer, second], "composite": None})
    assert painted.shape == (10, 12) and painted.sum() == 7 and painted[9, 11] and not painted[5, 5]
    assert not painted_pixels({"background": np.zeros((10, 12, 4)), "layers": []}).any()
    assert painted_pixels(None) is None and painted_pixels({"background": None, "layers": []}) is None
