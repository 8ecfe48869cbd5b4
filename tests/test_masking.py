"""Masking: noise reproducing the official demo, the keep count, nested masks, and bad ratios."""

from __future__ import annotations

import math

import pytest
import torch

from mae_core.masking import check_mask_ratio, mask_noise, noise_for_seeds, num_kept, random_masking


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
    from mae_core.masking import mask_hash

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
