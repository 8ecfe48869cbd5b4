"""The patch discriminator and its hinge losses."""

from __future__ import annotations

import pytest
import torch

from recipes.tiny_pair.discriminator import PatchDiscriminator, discriminator_loss, generator_loss


def test_patch_discriminator_shapes_and_hinge_losses():
    disc = PatchDiscriminator(width=8)
    logits = disc(torch.zeros(2, 3, 64, 64))
    assert logits.shape == (2, 1, 8, 8)
    assert discriminator_loss(torch.full((2,), 2.0), torch.full((2,), -2.0)).item() == 0.0
    assert discriminator_loss(torch.zeros(2), torch.zeros(2)).item() == 2.0
    assert generator_loss(torch.tensor([1.0, 3.0])).item() == -2.0
    with pytest.raises(ValueError, match="num_layers"):
        PatchDiscriminator(num_layers=0)
    with pytest.raises(ValueError, match="width"):
        PatchDiscriminator(width=0)
