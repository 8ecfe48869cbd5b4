"""Per-sample masking with the randomness passed in, never drawn from hidden global state.

Convention (as in the official code): in ``mask`` 0 is keep, 1 is remove. Patch ``i`` is kept when its noise value
is among the ``len_keep`` smallest of its row. Because of that, one noise vector gives NESTED masks across ratios:
every patch kept at ratio 0.9 is also kept at ratio 0.5. Every strategy is such a noise vector - a removal order
(:mod:`mae_core.modeling.mask_strategies`) - and so is a hand-drawn mask (:func:`mask_from_patches`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..files import bytes_sha256
from ..options import CUSTOM_MASK, check_seed, check_strategy, mask_ratio_value
from .mask_strategies import (
    Grid,
    block_removal_order,
    grid_removal_order,
    grid_rows_cols,
    lattice_keep_rank,
    order_to_noise,
)


def num_kept(num_patches: int, mask_ratio: float) -> int:
    """Patches the encoder sees; the official ``int(L * (1 - mask_ratio))`` (196 @ 0.9 -> 19, so 177 masked)."""
    return int(num_patches * (1 - mask_ratio))


def check_mask_ratio(mask_ratio: float, num_patches: int) -> int:
    """Validate a user's mask ratio for ``num_patches``; return ``len_keep``. ``ValueError`` naming the value."""
    ratio = mask_ratio_value(mask_ratio)
    len_keep = num_kept(num_patches, ratio)
    if len_keep < 1:
        raise ValueError(
            f"mask_ratio={mask_ratio!r} keeps no patch out of {num_patches}; "
            f"the largest usable ratio keeps 1 patch (mask_ratio <= {1 - 1 / num_patches:.4f})"
        )
    if len_keep >= num_patches:
        raise ValueError(f"mask_ratio={mask_ratio!r} masks no patch out of {num_patches}; use a larger ratio")
    return len_keep


def num_removed(num_patches: int, mask_ratio: float) -> int:
    """Patches removed at ``mask_ratio``: the official ``L - int(L * (1 - mask_ratio))`` (196 @ 0.75 -> 147)."""
    return num_patches - num_kept(num_patches, mask_ratio)


def mask_noise(
    seed: int, num_patches: int, batch: int = 1, strategy: str = "random", *, grid: Grid | None = None
) -> torch.Tensor:
    """[batch, num_patches] float32 noise on the CPU from a generator seeded with ``seed``; rows are successive draws.

    ``random``: uniform noise. Row 0 equals the official demo's ``torch.manual_seed(seed); torch.rand(1, L)``, so
    seed ``s`` reproduces the demo's mask exactly, on any device (move the noise, not the generator).
    ``block`` / ``grid``: the removal orders of :mod:`.mask_strategies`. ``grid`` (g_h, g_w) is the patch grid,
    by default the ``sqrt(num_patches)`` square (a model's own grid; for it the noise is the same whether ``grid`` is
    given or not): a ``num_patches`` that does not fit, or a bad ``batch``, is a ``ValueError``.
    """
    strategy = check_strategy(strategy)
    rows, cols = grid_rows_cols(num_patches, grid)
    if isinstance(batch, bool) or not isinstance(batch, numbers.Integral) or batch < 1:
        raise ValueError(f"batch must be a positive integer, got {batch!r}")
    generator = torch.Generator(device="cpu").manual_seed(check_seed(seed))
    if strategy == "random":
        return torch.rand(int(batch), num_patches, generator=generator)
    removal_order = block_removal_order if strategy == "block" else grid_removal_order
    return torch.stack([order_to_noise(removal_order((rows, cols), generator)) for _ in range(int(batch))])


def mask_from_patches(removed: object, num_patches: int, *, grid: Grid | None = None) -> torch.Tensor:
    """[1, num_patches] noise that removes exactly the patches ``removed`` at ``mask_ratio_for_count(m, L)``.

    ``removed``: patch indices (row-major, any iterable of ints) or a boolean grid ([g_h, g_w] or [L], True =
    removed); ``grid`` (g_h, g_w) defaults to the square of ``num_patches``.
    At least one patch must be removed and one kept. The noise is a full removal order: the drawn patches first,
    then the others, each group in the lattice order of :func:`mask_strategies.lattice_keep_rank`. So the engine's
    ratio argument decides how much of that order is removed: the ratio of ``m`` drawn patches gives exactly the
    drawn mask; a larger ratio also removes kept patches, spread evenly; a smaller one keeps some drawn patches.
    """
    rows, cols = grid_rows_cols(num_patches, grid)
    drawn = removed_bitmap(removed, num_patches, grid=(rows, cols))
    count = int(drawn.sum())
    if count == 0:
        raise ValueError("the drawn mask removes no patch; paint over at least one patch")
    if count == num_patches:
        raise ValueError(f"the drawn mask removes all {num_patches} patches; leave at least one patch visible")
    keep_rank = lattice_keep_rank((rows, cols)).reshape(-1)
    removal_order = np.lexsort((-keep_rank, ~drawn))  # drawn first, then by rank, highest (removed first) first
    return order_to_noise(removal_order).unsqueeze(0)


def removed_bitmap(removed: object, num_patches: int, *, grid: Grid | None = None) -> np.ndarray:
    """[num_patches] bool, True = removed, from patch indices or a boolean grid ([g_h, g_w] or [L]; ``grid``
    defaults to the square of ``num_patches``); ``ValueError`` naming the problem."""
    if isinstance(removed, (set, frozenset)):
        removed = sorted(removed)
    if isinstance(removed, torch.Tensor):
        removed = removed.detach().cpu().numpy()
    values = np.asarray(removed)
    if values.dtype == bool:
        rows, cols = grid_rows_cols(num_patches, grid)
        if values.shape not in ((num_patches,), (rows, cols)):
            raise ValueError(
                f"a boolean patch grid must have shape [{rows}, {cols}] or [{num_patches}], got {list(values.shape)}"
            )
        return values.reshape(-1).copy()
    if values.size == 0:
        return np.zeros(num_patches, dtype=bool)
    if values.ndim != 1 or not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"removed patches must be integer indices or a boolean grid, got {removed!r}")
    if values.min() < 0 or values.max() >= num_patches:
        raise ValueError(f"patch indices must lie in [0, {num_patches - 1}], got {sorted(set(values.tolist()))}")
    bitmap = np.zeros(num_patches, dtype=bool)
    bitmap[values] = True
    return bitmap


def mask_ratio_for_count(masked_patches: int, num_patches: int) -> float:
    """The ratio, as close to ``masked_patches / num_patches`` as floats allow, that removes exactly
    ``masked_patches`` by the official count (``num_removed``); a drawn mask's ratio."""
    if not 0 < masked_patches < num_patches:
        raise ValueError(f"masked_patches must lie in [1, {num_patches - 1}], got {masked_patches!r}")
    ratio = masked_patches / num_patches
    while num_removed(num_patches, ratio) > masked_patches:  # L * (1 - r) fell just under an integer: a step down
        ratio = math.nextafter(ratio, 0.0)
    while num_removed(num_patches, ratio) < masked_patches:
        ratio = math.nextafter(ratio, 1.0)
    return ratio


def mask_hash(mask: torch.Tensor) -> str:
    """A short content hash of one removed-patch bitmap ``[L]`` (1 = removed): equal hashes mean the same patches
    were removed, so a paired comparison can prove both checkpoints saw the identical mask. 16 hex characters of the
    sha256 of the patch count and the bitmap packed into bytes."""
    bits = mask.detach().reshape(-1).to("cpu", torch.bool).numpy()
    return bytes_sha256(len(bits).to_bytes(4, "little") + np.packbits(bits).tobytes())[:16]


def noise_for_seeds(
    seeds: Sequence[int], num_patches: int, strategy: str = "random", *, grid: Grid | None = None
) -> torch.Tensor:
    """[len(seeds), num_patches]: row ``i`` is ``mask_noise(seeds[i], L, strategy=strategy, grid=grid)[0]``,
    whatever the batch around it."""
    return torch.cat([mask_noise(s, num_patches, strategy=strategy, grid=grid) for s in seeds], dim=0)


def chosen_masks(
    strategy: str, seeds: Sequence[int], mask_ratio: float, grid: Grid, removed: object = None
) -> tuple[torch.Tensor, float]:
    """(noise [K, L], mask ratio) of the masks a caller chose on the (g_h, g_w) patch ``grid``: a seeded
    ``strategy``'s mask for each of ``seeds`` at ``mask_ratio`` (:func:`noise_for_seeds`), or ``strategy="custom"``
    (:data:`~mae_core.options.CUSTOM_MASK`): the ONE mask of the drawn patches ``removed`` (indices or a boolean grid)
    at its own ratio (:func:`mask_ratio_for_count`), K = 1 whatever ``seeds``. ``ValueError`` for mixed-up
    arguments (patches with a seeded strategy, custom without patches) and for an empty or full drawing."""
    num_patches = grid[0] * grid[1]
    if strategy != CUSTOM_MASK:
        if removed is not None:
            raise ValueError(f"removed patches are for strategy='custom', not {strategy!r}")
        return noise_for_seeds(seeds, num_patches, strategy=check_strategy(strategy), grid=grid), mask_ratio
    if removed is None:
        raise ValueError("strategy='custom' needs the removed patches (indices or a boolean grid)")
    drawn = removed_bitmap(removed, num_patches, grid=grid)
    noise = mask_from_patches(drawn, num_patches, grid=grid)  # refuses empty and full masks
    return noise, mask_ratio_for_count(int(drawn.sum()), num_patches)


@dataclass(frozen=True)
class Masking:
    """Result of masking a batch of token sequences."""

    kept: torch.Tensor  # [N, len_keep, D] the visible tokens, in shuffle order
    mask: torch.Tensor  # [N, L] 0 keep, 1 remove, in patch order
    ids_restore: torch.Tensor  # [N, L] position of each patch in the shuffled order
    ids_keep: torch.Tensor  # [N, len_keep] patch indices of the visible tokens


def random_masking(x: torch.Tensor, mask_ratio: float, noise: torch.Tensor) -> Masking:
    """Keep the ``len_keep`` patches of lowest noise per sample. ``x`` [N, L, D], ``noise`` [N, L]."""
    n, length, dim = x.shape
    if noise.shape != (n, length):
        raise ValueError(f"noise must have shape [N, L] = [{n}, {length}], got {list(noise.shape)}")
    len_keep = check_mask_ratio(mask_ratio, length)
    noise = noise.to(x.device)
    ids_shuffle = torch.argsort(noise, dim=1)  # ascending: small is keep
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    ids_keep = ids_shuffle[:, :len_keep]
    kept = torch.gather(x, dim=1, index=ids_keep.unsqueeze(-1).expand(-1, -1, dim))
    mask = torch.ones(n, length, device=x.device, dtype=x.dtype)
    mask[:, :len_keep] = 0
    mask = torch.gather(mask, dim=1, index=ids_restore)
    return Masking(kept=kept, mask=mask, ids_restore=ids_restore, ids_keep=ids_keep)
