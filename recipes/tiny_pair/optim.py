"""Optimisation of the tiny pair: seeded initialisation, the learning-rate schedule, AdamW parameter groups."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TypeVar

import torch

T = TypeVar("T")


def seeded_init(seed: int, build: Callable[[], T]) -> T:
    """Run ``build()`` (which draws initial weights from torch's global RNG) under a forked RNG seeded with
    ``seed``, so the caller's global random state is left untouched and the weights depend only on ``seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def lr_at(step: int, total: int, peak: float, floor: float, warmup: int) -> float:
    """Linear warm-up over ``warmup`` steps, then half a cosine from ``peak`` down to ``floor`` at ``total``."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return floor + (peak - floor) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def adamw(model: torch.nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW with the official MAE betas; no weight decay on biases, norms, and tokens (1-D or [1, 1, D])."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim <= 1 or name.endswith("token") else decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
