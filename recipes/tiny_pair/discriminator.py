"""A small patch discriminator for the adversarial fine-tuning of the bundled ``tiny-gan`` checkpoint.

PatchGAN-style (Isola et al., 2017): strided convolutions turn an image into a coarse grid of real/fake logits, one
per overlapping receptive field, so the generator is judged on local texture rather than on global layout. Spectral
normalisation keeps the discriminator's Lipschitz constant bounded, which keeps a short CPU fine-tuning stable.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


class PatchDiscriminator(nn.Module):
    """``[N, C, H, W]`` ImageNet-normalised images -> ``[N, 1, H/8, W/8]`` logits (positive means real)."""

    def __init__(self, in_chans: int = 3, width: int = 32, num_layers: int = 3) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}")
        if width < 1:
            raise ValueError(f"width must be positive, got {width}")
        layers: list[nn.Module] = []
        channels = in_chans
        for i in range(num_layers):
            out = width * 2**i
            # kernel 4, stride 2, padding 1 halves H and W exactly
            layers += [spectral_norm(nn.Conv2d(channels, out, 4, stride=2, padding=1)), nn.LeakyReLU(0.2)]
            channels = out
        layers.append(spectral_norm(nn.Conv2d(channels, 1, 3, stride=1, padding=1)))
        self.net = nn.Sequential(*layers)

    def forward(self, imgs: torch.Tensor) -> torch.Tensor:
        return self.net(imgs)


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Hinge loss of the discriminator: push real logits above +1 and fake logits below -1 (scalar)."""
    return torch.relu(1.0 - real_logits).mean() + torch.relu(1.0 + fake_logits).mean()


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Hinge loss of the generator: raise the discriminator's logits on the reconstructions (scalar)."""
    return -fake_logits.mean()
