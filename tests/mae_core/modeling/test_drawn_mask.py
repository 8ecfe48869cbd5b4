"""Painted pixels to removed patches: the half-area rule, exact at the boundary, on canvases of any size."""

from __future__ import annotations

import numpy as np
import pytest

from mae_core.modeling.drawn_mask import painted_area, patches_from_painting


def test_half_or_more_of_a_patch_painted_removes_it():
    painted = np.zeros((224, 224), dtype=bool)
    painted[0:8, 0:16] = True  # patch (0, 0): exactly half
    painted[0:7, 16:32] = True  # patch (0, 1): 7/16 of it, under half
    painted[16:32, 16:32] = True  # patch (1, 1): all of it
    painted[32:40, 32:47] = True  # patch (2, 2): 120 of 256 pixels
    removed = patches_from_painting(painted, 14)
    assert removed.shape == (14, 14) and removed.dtype == bool
    assert np.argwhere(removed).tolist() == [[0, 0], [1, 1]]


def test_a_stroke_across_a_patch_border_counts_for_each_patch_separately():
    painted = np.zeros((64, 64), dtype=np.uint8)
    painted[:, 12:20] = 255  # 4 px into column 0 and 4 px into column 1 of 16-px patches: a quarter each
    assert not patches_from_painting(painted, 4).any()
    painted[:, 8:24] = 255  # half of each
    assert patches_from_painting(painted, 4)[:, :2].all()


def test_canvas_not_a_multiple_of_the_grid_uses_exact_fractional_areas():
    # 10 px over 4 patches: patches span 2.5 px, so pixel 2 is half in patch 0 and half in patch 1
    painted = np.zeros((10, 10), dtype=bool)
    painted[:, 0:1] = True
    painted[:, 1:2] = True  # 2 of 2.5 px of column 0: removed
    removed = patches_from_painting(painted, 4)
    assert removed[:, 0].all() and not removed[:, 1:].any()
    area, patch_area = painted_area(painted, 4)
    assert patch_area == 100 and area.sum() == 20 * 4 * 4  # 20 painted px, each 4 x 4 units
    single = np.zeros((10, 10), dtype=bool)
    single[0:3, 2] = True  # 2.5 rows of patch row 0 x half of pixel 2 = 1.25 px, under half of 6.25
    assert not patches_from_painting(single, 4).any()
    single[0:3, 1:3] = True  # 2.5 x 1.5 = 3.75 px of patch (0, 0) >= 3.125
    assert np.argwhere(patches_from_painting(single, 4)).tolist() == [[0, 0]]


def test_edges_of_the_canvas_belong_to_the_border_patches():
    painted = np.zeros((225, 230), dtype=bool)
    painted[-9:, -17:] = True  # bottom-right corner: 9 x 17 px of a 16.07 x 16.43 px patch (more than half)
    removed = patches_from_painting(painted, 14)
    assert np.argwhere(removed).tolist() == [[13, 13]]


def test_everything_painted_removes_every_patch():
    assert patches_from_painting(np.ones((50, 70)), 7).all()
    assert not patches_from_painting(np.zeros((50, 70)), 7).any()


@pytest.mark.parametrize("shape", [(10,), (2, 3, 4), (0, 5)])
def test_bad_canvases_are_refused(shape):
    with pytest.raises(ValueError, match="2-D"):
        patches_from_painting(np.zeros(shape), 4)


@pytest.mark.parametrize("grid", [0, -1, 2.5, True])
def test_bad_grid_sizes_are_refused(grid):
    with pytest.raises(ValueError, match="grid_size"):
        patches_from_painting(np.zeros((8, 8)), grid)


def test_rectangular_grids_split_rows_and_columns_separately():
    painted = np.zeros((40, 60), dtype=bool)  # a 2 x 3 grid of 20 x 20 patches
    painted[20:40, 40:60] = True  # the whole bottom-right patch
    painted[0:10, 0:20] = True  # exactly half of the top-left patch
    painted[0:9, 20:40] = True  # just under half of the top-middle one
    removed = patches_from_painting(painted, (2, 3))
    assert removed.tolist() == [[True, False, False], [False, False, True]]
    area, patch_area = painted_area(painted, (2, 3))
    assert area.shape == (2, 3) and area[1, 2] == patch_area
