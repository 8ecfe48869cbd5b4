"""Optimisation: the learning-rate schedule, AdamW groups, seeded initialisation."""

from __future__ import annotations

import pytest
import torch

from recipes.tiny_pair.optim import adamw, lr_at, seeded_init
from tests.conftest import make_model


def test_learning_rate_warms_up_then_decays_to_the_floor():
    rates = [lr_at(s, 100, 1e-3, 1e-5, 10) for s in range(101)]
    assert rates[0] == pytest.approx(1e-4) and rates[9] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(rates[9:], rates[10:]))
    assert rates[100] == pytest.approx(1e-5)


def test_adamw_exempts_biases_norms_and_tokens_from_weight_decay():
    model = make_model(seed=0)
    decay, no_decay = adamw(model, 1e-3, 0.05).param_groups
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0
    exempt = {id(p) for p in no_decay["params"]}
    assert id(model.cls_token) in exempt and id(model.mask_token) in exempt and id(model.norm.weight) in exempt
    assert id(model.patch_embed.proj.weight) not in exempt


def test_seeded_init_depends_on_the_seed_only_and_leaves_the_global_rng_alone():
    state = torch.random.get_rng_state()
    a, b, c = (seeded_init(s, lambda: torch.nn.Linear(4, 4)) for s in (1, 1, 2))
    assert torch.equal(a.weight, b.weight) and not torch.equal(a.weight, c.weight)
    assert torch.equal(torch.random.get_rng_state(), state)
