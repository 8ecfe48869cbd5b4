"""Masking: noise reproducing the official demo, the keep count, nested masks, bad ratios, every strategy's
counts and nesting, and drawn (custom) masks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mae_core.modeling.masking import (
    check_mask_ratio,
    mask_from_patches,
    mask_hash,
    mask_noise,
    mask_ratio_for_count,
    noise_for_seeds,
    num_kept,
    num_removed,
    random_masking,
    removed_bitmap,
)
from mae_core.options import MASK_STRATEGIES, check_strategy


@pytest.mark.parametrize("seed", [0, 2, 1234])
def test_mask_noise_reproduces_official_global_draw(seed):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        expected = torch.rand(1, 196)
    assert torch.equal(mask_noise(seed, 196), expected)


def test_mask_noise_leaves_global_generator_alone():
    with torch.random.fork_rng():
        torch.manual_seed(7)
        mask_noise(3, 16)
        after = torch.rand(1)
        torch.manual_seed(7)
        assert torch.equal(after, torch.rand(1))


def test_noise_for_seeds_rows_do_not_depend_on_batch():
    rows = noise_for_seeds([5, 0, 5], 49)
    assert rows.shape == (3, 49)
    assert torch.equal(rows[0], mask_noise(5, 49)[0])
    assert torch.equal(rows[1], mask_noise(0, 49)[0])
    assert torch.equal(rows[0], rows[2])


@pytest.mark.parametrize("seed", [1.5, True, "3", -1, None])
def test_mask_noise_rejects_bad_seeds(seed):
    with pytest.raises(ValueError, match="seed"):
        mask_noise(seed, 16)


@pytest.mark.parametrize("ratio, kept", [(0.75, 49), (0.9, 19), (0.5, 98), (0.1, 176)])
def test_num_kept_truncates_like_official(ratio, kept):
    assert num_kept(196, ratio) == kept
    assert check_mask_ratio(ratio, 196) == kept


@pytest.mark.parametrize("ratio", [0, 1, 1.5, -0.1, float("nan"), float("inf"), "abc", None])
def test_bad_ratios_name_the_value(ratio):
    with pytest.raises(ValueError) as info:
        check_mask_ratio(ratio, 196)
    assert repr(ratio) in str(info.value)


def test_ratio_that_keeps_no_patch_is_refused():
    assert num_kept(16, 0.95) == 0
    with pytest.raises(ValueError, match=r"0\.95.*keeps no patch"):
        check_mask_ratio(0.95, 16)


def test_random_masking_keeps_lowest_noise_and_marks_the_rest():
    torch.manual_seed(0)
    x = torch.randn(3, 16, 5)
    noise = noise_for_seeds([0, 1, 2], 16)
    out = random_masking(x, 0.75, noise)
    assert out.kept.shape == (3, 4, 5)
    assert out.mask.shape == (3, 16)
    assert torch.equal(out.mask.sum(dim=1), torch.full((3,), 12.0))
    for n in range(3):
        lowest = torch.topk(noise[n], 4, largest=False).indices
        assert set(out.ids_keep[n].tolist()) == set(lowest.tolist())
        assert torch.equal(out.kept[n], x[n, out.ids_keep[n]])
        assert torch.all(out.mask[n, out.ids_keep[n]] == 0)
        # ids_restore undoes the shuffle: patch i sits at position ids_restore[i] of the shuffled order
        shuffle = torch.argsort(noise[n])
        assert torch.equal(shuffle[out.ids_restore[n]], torch.arange(16))


def test_masks_are_nested_across_ratios():
    x = torch.zeros(1, 196, 2)
    noise = mask_noise(11, 196)
    kept = [set(random_masking(x, r, noise).ids_keep[0].tolist()) for r in (0.25, 0.5, 0.75, 0.9)]
    for wider, narrower in zip(kept, kept[1:]):
        assert narrower < wider


def test_random_masking_rejects_wrong_noise_shape():
    with pytest.raises(ValueError, match=r"noise must have shape"):
        random_masking(torch.zeros(2, 16, 4), 0.5, torch.rand(1, 16))


def test_masked_count_matches_official_examples():
    x = torch.zeros(1, 196, 1)
    for ratio, masked in ((0.75, 147), (0.9, 177), (0.5, 98)):
        out = random_masking(x, ratio, mask_noise(0, 196))
        assert int(out.mask.sum()) == masked
        assert math.isclose(masked / 196, ratio, abs_tol=0.01)


def test_mask_hash_identifies_the_removed_set():
    a = torch.zeros(16)
    a[[1, 5, 9]] = 1
    same = torch.zeros(16, dtype=torch.bool)
    same[[1, 5, 9]] = True
    other = a.clone()
    other[2] = 1
    assert mask_hash(a) == mask_hash(same) == mask_hash(a.view(4, 4))  # dtype and shape do not matter
    assert mask_hash(a) != mask_hash(other)
    assert mask_hash(torch.zeros(16)) != mask_hash(torch.zeros(24))  # the patch count is part of the identity
    assert len(mask_hash(a)) == 16


# --- strategies: every one is a removal order written as noise ---

RATIOS = [round(0.05 * k, 2) for k in range(1, 20)]  # 0.05 .. 0.95
GRID_SIZES = (4, 8, 14, 16)  # 16, 64, 196 (ViT-B/L), 256 (ViT-H) patches


def _removed(noise: torch.Tensor, ratio: float) -> torch.Tensor:
    """[L] bool removed set of one noise row at ``ratio``."""
    length = noise.shape[-1]
    return random_masking(torch.zeros(1, length, 1), ratio, noise.reshape(1, length)).mask[0].bool()


# Hashes of the random masks of the code before strategies existed: ``random`` must stay bit for bit.
GOLDEN_RANDOM = {
    (16, 0): ["a7d6f5d4a8d4a899", "f74b51e01a0e497f", "0aebb02ed7883781", "86ce05dad6902125"],
    (16, 2): ["89a1ad2b64d5fb10", "26bcae82c47ff585", "b23fafbca20b9175", "81eb1f759b6b02c9"],
    (196, 0): ["b8ce466948e69c04", "16a36a917c06cd72", "fb7a151593be1e10", "fb9988a56fb28aba"],
    (196, 2): ["1603b440c9915f3f", "62f9f6aa397ebbf3", "507ccd2ba300dc40", "81ef4256f84dc3d6"],
    (196, 1234): ["c9cc832b5e66e443", "12131a279f663344", "36822693364bee4e", "6f6472686e748fe3"],
    (256, 2): ["88c6756f7053a0a6", "d6ac51c8f77422c8", "67ff00e88b9d50fb", "ea3422800ca85ccf"],
}


@pytest.mark.parametrize("length, seed", sorted(GOLDEN_RANDOM))
def test_random_strategy_is_unchanged_against_golden_masks(length, seed):
    for strategy_args in ({}, {"strategy": "random"}):
        noise = mask_noise(seed, length, **strategy_args)
        hashes = [mask_hash(_removed(noise, r)) for r in (0.25, 0.5, 0.75, 0.9)]
        assert hashes == GOLDEN_RANDOM[(length, seed)]


def test_random_batch_noise_is_unchanged():
    import hashlib

    noise = mask_noise(2, 196, batch=3, strategy="random")
    assert noise.dtype == torch.float32
    digest = hashlib.sha256(noise.numpy().tobytes()).hexdigest()
    assert digest == "36a3e6e362129eae640c1324edaa04bc46daf909aee20def14fffad513a6b10d"


@pytest.mark.parametrize("strategy", MASK_STRATEGIES)
@pytest.mark.parametrize("side", GRID_SIZES)
def test_removed_count_is_official_at_every_ratio(strategy, side):
    length = side * side
    for seed in (0, 1, 7):
        noise = mask_noise(seed, length, strategy=strategy)
        assert noise.shape == (1, length) and noise.dtype == torch.float32
        for ratio in RATIOS:
            if num_kept(length, ratio) < 1:
                continue  # 0.95 of 16 keeps nothing: refused for every strategy alike
            assert int(_removed(noise, ratio).sum()) == length - int(length * (1 - ratio)), (seed, ratio)


@pytest.mark.parametrize("strategy", MASK_STRATEGIES)
def test_every_strategy_nests_across_ratios(strategy):
    for side in (4, 14):
        for seed in range(5):
            noise = mask_noise(seed, side * side, strategy=strategy)
            removed = [_removed(noise, r) for r in RATIOS if num_kept(side * side, r) >= 1]
            for smaller, larger in zip(removed, removed[1:]):
                assert torch.all(larger[smaller]), (side, seed)  # everything removed before stays removed


@pytest.mark.parametrize("strategy", ["block", "grid"])
def test_strategy_masks_do_not_depend_on_batch_position_or_size(strategy):
    seeds = [3, 0, 3, 9]
    rows = noise_for_seeds(seeds, 196, strategy=strategy)
    assert rows.shape == (4, 196)
    for k, seed in enumerate(seeds):
        assert torch.equal(rows[k], mask_noise(seed, 196, strategy=strategy)[0])
    assert torch.equal(noise_for_seeds([9], 196, strategy=strategy)[0], rows[3])
    batch = mask_noise(3, 196, batch=3, strategy=strategy)  # rows are successive draws of one generator
    assert torch.equal(batch[0], rows[0])


def test_block_masks_are_seeded_and_vary_with_the_seed():
    hashes = {mask_hash(_removed(mask_noise(s, 196, strategy="block"), 0.5)) for s in range(10)}
    assert len(hashes) == 10
    assert torch.equal(mask_noise(4, 196, strategy="block"), mask_noise(4, 196, strategy="block"))


def test_strategies_leave_global_generator_alone():
    with torch.random.fork_rng():
        torch.manual_seed(7)
        mask_noise(3, 196, strategy="block")
        mask_noise(3, 196, strategy="grid")
        after = torch.rand(1)
        torch.manual_seed(7)
        assert torch.equal(after, torch.rand(1))


@pytest.mark.parametrize("strategy", [None, "", "Block", "custom", "checkerboard", 3])
def test_unknown_strategies_are_refused_by_name(strategy):
    with pytest.raises(ValueError) as info:
        mask_noise(0, 196, strategy=strategy)
    message = str(info.value)
    assert ("mask_from_patches" in message) if strategy == "custom" else (repr(strategy) in message)
    assert check_strategy("grid") == "grid"


@pytest.mark.parametrize("strategy", MASK_STRATEGIES)
def test_every_strategy_needs_a_square_grid_and_a_positive_batch(strategy):
    with pytest.raises(ValueError, match="must be a square"):
        mask_noise(0, 50, strategy=strategy)
    with pytest.raises(ValueError, match="positive integer"):
        mask_noise(0, 0, strategy=strategy)
    for batch in (0, -2, 1.5):
        with pytest.raises(ValueError, match="batch must be a positive integer"):
            mask_noise(0, 196, batch=batch, strategy=strategy)
    assert mask_noise(0, np.int64(64), batch=np.int64(2), strategy=strategy).shape == (2, 64)


# --- custom (drawn) masks ---


def test_mask_from_patches_removes_exactly_the_drawn_patches():
    drawn = {0, 1, 14, 15, 100, 195}
    noise = mask_from_patches(drawn, 196)
    assert noise.shape == (1, 196)
    ratio = mask_ratio_for_count(len(drawn), 196)
    assert math.isclose(ratio, 6 / 196, rel_tol=1e-12)
    removed = _removed(noise, ratio)
    assert set(torch.nonzero(removed).flatten().tolist()) == drawn


def test_mask_from_patches_takes_indices_or_boolean_grids_alike():
    grid = np.zeros((14, 14), dtype=bool)
    grid[3:6, 4:9] = True
    indices = np.flatnonzero(grid)
    as_list = mask_from_patches(indices.tolist(), 196)
    assert torch.equal(as_list, mask_from_patches(grid, 196))
    assert torch.equal(as_list, mask_from_patches(grid.reshape(-1), 196))
    assert torch.equal(as_list, mask_from_patches(torch.from_numpy(grid), 196))
    assert torch.equal(as_list, mask_from_patches(set(indices.tolist()), 196))
    assert torch.equal(as_list, mask_from_patches(tuple(int(i) for i in indices), 196))


def test_custom_noise_at_other_ratios_extends_or_shrinks_the_drawn_set():
    drawn = set(range(20, 60))
    noise = mask_from_patches(drawn, 196)
    exact = _removed(noise, mask_ratio_for_count(40, 196))
    larger = _removed(noise, 0.5)
    smaller = _removed(noise, 0.1)
    assert int(larger.sum()) == 98 and torch.all(larger[exact])
    assert int(smaller.sum()) == num_removed(196, 0.1) and torch.all(exact[smaller])


@pytest.mark.parametrize("length", [16, 49, 196, 256])
def test_mask_ratio_for_count_is_exact_for_every_count(length):
    for count in range(1, length):
        ratio = mask_ratio_for_count(count, length)
        assert num_removed(length, ratio) == count
        assert abs(ratio - count / length) < 1e-12


@pytest.mark.parametrize(
    "removed, match",
    [
        ([], "removes no patch"),
        (np.zeros((14, 14), dtype=bool), "removes no patch"),
        (list(range(196)), "all 196 patches"),
        ([3, 196], r"\[0, 195\]"),
        ([-1], r"\[0, 195\]"),
        ([1.5, 2.0], "integer indices or a boolean grid"),
        ("12", "integer indices or a boolean grid"),
        (np.zeros((10, 10), dtype=bool), r"shape \[14, 14\] or \[196\]"),
        (np.zeros((2, 98), dtype=bool), r"shape \[14, 14\] or \[196\]"),
    ],
)
def test_bad_drawn_masks_say_what_is_wrong(removed, match):
    with pytest.raises(ValueError, match=match):
        mask_from_patches(removed, 196)


def test_removed_bitmap_ignores_duplicate_indices():
    assert int(removed_bitmap([5, 5, 7], 16).sum()) == 2


@pytest.mark.parametrize("count", [0, 16, -1])
def test_mask_ratio_for_count_refuses_empty_or_full_masks(count):
    with pytest.raises(ValueError, match="masked_patches"):
        mask_ratio_for_count(count, 16)


def test_drawn_masks_on_a_rectangular_grid():
    grid = np.zeros((2, 5), dtype=bool)
    grid[1, 3] = grid[0, 0] = True
    noise = mask_from_patches(grid, 10, grid=(2, 5))
    mask = random_masking(torch.zeros(1, 10, 1), mask_ratio_for_count(2, 10), noise).mask[0]
    assert mask.reshape(2, 5).bool().numpy().tolist() == grid.tolist()
    with pytest.raises(ValueError, match=r"shape \[2, 5\] or \[10\]"):
        mask_from_patches(np.zeros((5, 2), dtype=bool), 10, grid=(2, 5))
