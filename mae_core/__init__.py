"""mae_core: an exact, reproducible, batched engine for Masked Autoencoders (He et al., 2021)."""

from .masking import check_mask_ratio, mask_noise, noise_for_seeds, num_kept, random_masking
from .model import (
    PRESETS,
    MAEConfig,
    MAEOutput,
    MaskedAutoencoderViT,
    build_model,
    mae_vit_base_patch16,
    mae_vit_huge_patch14,
    mae_vit_large_patch16,
)
from .metrics import Metrics
from .patches import patchify, unpatchify
from .preprocess import IMAGENET_MEAN, IMAGENET_STD, ImageError, ImageLike, load_image, preprocess
from .reconstruct import Reconstruction, reconstruct
from .pos_embed import sincos_2d

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ImageError",
    "ImageLike",
    "Metrics",
    "Reconstruction",
    "load_image",
    "preprocess",
    "reconstruct",
    "PRESETS",
    "MAEConfig",
    "MAEOutput",
    "MaskedAutoencoderViT",
    "build_model",
    "check_mask_ratio",
    "mae_vit_base_patch16",
    "mae_vit_huge_patch14",
    "mae_vit_large_patch16",
    "mask_noise",
    "noise_for_seeds",
    "num_kept",
    "patchify",
    "random_masking",
    "sincos_2d",
    "unpatchify",
]
