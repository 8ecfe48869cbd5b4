"""UI values -> engine arguments: ratio grids and seed lists, bad values as gr.Error."""

from __future__ import annotations

import gradio as gr
import pytest

from mae_app.inputs import ratio_grid, seed_list


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
