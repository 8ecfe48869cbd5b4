"""Removal orders: the grid lattice, BEiT-style blocks (contiguous against random), the order-to-noise step."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from mae_core.modeling.mask_strategies import (
    BLOCK_AREA_FRACTION,
    block_min_area,
    block_removal_order,
    grid_removal_order,
    grid_side,
    lattice_keep_rank,
    order_to_noise,
)
from mae_core.modeling.masking import mask_noise, random_masking


def _removed_grid(strategy: str, seed: int, side: int, ratio: float) -> np.ndarray:
    noise = mask_noise(seed, side * side, strategy=strategy)
    mask = random_masking(torch.zeros(1, side * side, 1), ratio, noise).mask[0]
    return mask.reshape(side, side).bool().numpy()


def test_grid_at_075_on_14x14_keeps_one_seeded_corner_of_every_2x2_cell():
    offsets = set()
    for seed in range(12):
        kept = ~_removed_grid("grid", seed, 14, 0.75)
        assert kept.sum() == 49
        ys, xs = np.nonzero(kept)
        offset = (ys[0] % 2, xs[0] % 2)
        expected = np.zeros((14, 14), dtype=bool)
        expected[offset[0] :: 2, offset[1] :: 2] = True
        assert np.array_equal(kept, expected), seed
        offsets.add(offset)
    assert offsets == {(0, 0), (0, 1), (1, 0), (1, 1)}  # the seed picks among all four corners


def test_grid_continues_the_documented_lattice_order():
    for seed in range(4):
        kept_075 = ~_removed_grid("grid", seed, 14, 0.75)
        oy, ox = np.argwhere(kept_075)[0] % 2
        yy, xx = np.mgrid[0:14, 0:14]
        kept_05 = ~_removed_grid("grid", seed, 14, 0.5)  # + the opposite corner of each cell: a checkerboard
        assert np.array_equal(kept_05, (yy + xx) % 2 == (oy + ox) % 2)
        removed_025 = _removed_grid("grid", seed, 14, 0.25)  # the fourth corner: (oy, 1 - ox) stays, (1 - oy, ox) goes
        assert np.array_equal(removed_025, (yy % 2 != oy) & (xx % 2 == ox))
        kept_09 = ~_removed_grid("grid", seed, 14, 0.9)  # 19 kept: inside the 2x2 lattice, spread over the image
        assert kept_09.sum() == 19 and np.all(kept_075[kept_09])
        assert kept_09[:7].sum() >= 6 and kept_09[7:].sum() >= 6 and kept_09[:, :7].sum() >= 6


def test_lattice_keep_rank_is_bayer_order_and_distinct():
    rank = lattice_keep_rank(4)
    assert np.array_equal(
        np.argsort(np.argsort(rank.reshape(-1))).reshape(4, 4),
        [[0, 8, 2, 10], [12, 4, 14, 6], [3, 11, 1, 9], [15, 7, 13, 5]],
    )  # the 4x4 ordered-dither matrix
    for side in (3, 7, 14, 16, 37):
        for offset in ((0, 0), (1, 1), (0, 1), (1, 0)):
            values = lattice_keep_rank(side, offset)
            assert len(np.unique(values)) == side * side


def test_grid_removal_order_is_a_permutation_drawing_one_integer():
    generator = torch.Generator().manual_seed(5)
    order = grid_removal_order(14, generator)
    assert sorted(order.tolist()) == list(range(196))
    reference = torch.Generator().manual_seed(5)
    torch.randint(4, (1,), generator=reference)
    assert torch.equal(torch.rand(3, generator=generator), torch.rand(3, generator=reference))


@pytest.mark.parametrize("ratio", [0.25, 0.4, 0.5])
def test_block_masks_have_far_fewer_connected_regions_than_random(ratio):
    seeds = range(20)
    regions = {
        strategy: np.mean([ndimage.label(_removed_grid(strategy, s, 14, ratio))[1] for s in seeds])
        for strategy in ("block", "random")
    }
    assert regions["block"] <= 2.0
    assert regions["random"] >= 4 * regions["block"], regions


def test_block_removal_starts_inside_one_rectangle():
    max_area = math.ceil(BLOCK_AREA_FRACTION * 196)
    for seed in range(20):
        removed = _removed_grid("block", seed, 14, 0.05)  # 10 patches: fewer than the smallest block (16)
        assert removed.sum() == 10
        assert ndimage.label(removed)[1] == 1
        ys, xs = np.nonzero(removed)
        assert (np.ptp(ys) + 1) * (np.ptp(xs) + 1) <= max_area


def test_block_order_is_a_permutation_and_small_grids_use_small_blocks():
    assert block_min_area(196) == 16 and block_min_area(256) == 21 and block_min_area(16) == 1
    for side in (1, 2, 4, 14):
        order = block_removal_order(side, torch.Generator().manual_seed(0))
        assert sorted(order.tolist()) == list(range(side * side))


def test_order_to_noise_removes_the_order_first():
    order = np.array([4, 0, 3, 1, 2])
    noise = order_to_noise(order)
    assert noise.dtype == torch.float32 and torch.all((noise > 0) & (noise < 1))
    assert torch.argsort(noise, descending=True).tolist() == order.tolist()


@pytest.mark.parametrize("bad", [0, -4, 50, 2.0, True, "196"])
def test_grid_side_refuses_non_squares(bad):
    with pytest.raises(ValueError, match="num_patches"):
        grid_side(bad)


@pytest.mark.parametrize("strategy", ["block", "grid"])
def test_the_square_grid_given_explicitly_gives_the_same_noise(strategy):
    assert torch.equal(mask_noise(5, 196, 3, strategy), mask_noise(5, 196, 3, strategy, grid=(14, 14)))


@pytest.mark.parametrize("rows, cols", [(20, 30), (30, 20), (3, 11)])
def test_block_and_grid_work_on_rectangular_grids(rows, cols):
    generator = torch.Generator().manual_seed(0)
    order = block_removal_order((rows, cols), generator)
    assert sorted(order.tolist()) == list(range(rows * cols))
    first = np.zeros(rows * cols, dtype=bool)
    first[order[: rows * cols // 4]] = True
    # blocks are compact: far fewer 4-connected regions than a random quarter of the patches
    assert _regions(first.reshape(rows, cols)) < rows * cols // 16 + 2
    keep = lattice_keep_rank((rows, cols))
    assert keep.shape == (rows, cols) and len(np.unique(keep)) == rows * cols
    noise = mask_noise(0, rows * cols, strategy="grid", grid=(rows, cols))[0]
    kept = np.zeros(rows * cols, dtype=bool)
    kept[np.argsort(noise.numpy())[: rows * cols // 4]] = True
    kept = kept.reshape(rows, cols)
    # the quarter kept first is one corner of every complete 2 x 2 cell, the same corner everywhere
    ys, xs = np.nonzero(kept)
    assert len(set(ys % 2)) == 1 and len(set(xs % 2)) == 1


def test_a_grid_that_does_not_hold_the_patches_is_refused():
    with pytest.raises(ValueError, match="a 20x30 patch grid has 600 patches, not 196"):
        mask_noise(0, 196, strategy="block", grid=(20, 30))


def _regions(bitmap: np.ndarray) -> int:
    return int(ndimage.label(bitmap)[1])
