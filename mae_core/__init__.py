"""mae_core: an exact, reproducible, batched engine for Masked Autoencoders (He et al., 2021).

Three parts: ``modeling`` (the model and its steps: masking, mask strategies, patches, position embeddings, drawn
masks), ``checkpoints`` (the registry, finding and downloading files, reading and converting them, ``load_model``)
and ``evaluation`` (preprocessing, the batched study engine, metrics, one image's reconstruction). ``files`` (content
hashes, atomic writes) serves all three. The public names are re-exported here; ``python -m mae_core`` lists,
downloads and verifies checkpoints.
"""

from .checkpoints.checkpoint_files import save_checkpoint
from .checkpoints.convert import infer_config, transformers_to_official
from .checkpoints.errors import (
    CheckpointError,
    CheckpointNotFoundError,
    CorruptCheckpointError,
    EncoderOnlyError,
    HashMismatchError,
    NormPixWarning,
    StateDictMismatchError,
    UnknownArchitectureError,
    UnsafeCheckpointError,
)
from .checkpoints.loading import CheckpointInfo, load_model
from .checkpoints.model_cache import ModelCache
from .checkpoints.registry import (
    LOSS_TYPES,
    CheckpointEntry,
    CheckpointStatus,
    DefaultPair,
    LossType,
    Source,
    checkpoint_status,
    default_pair,
)
from .checkpoints.sources import download
from .evaluation.engine import EvalRecord, evaluate, iter_evaluate, select_device
from .evaluation.heatmap import error_heatmap, shared_vmax
from .evaluation.metrics import Metrics
from .evaluation.patch_difference import PATCH_METRICS, PatchDifference, patch_difference
from .evaluation.preprocess import IMAGENET_MEAN, IMAGENET_STD, ImageError, ImageLike, load_image, preprocess
from .evaluation.reconstruct import Reconstruction, reconstruct
from .evaluation.uncertainty import MaskUncertainty, mask_uncertainty
from .modeling.drawn_mask import patches_from_painting
from .modeling.mask_strategies import CUSTOM_MASK, MASK_STRATEGIES
from .modeling.masking import (
    check_mask_ratio,
    check_seed,
    mask_from_patches,
    mask_noise,
    mask_ratio_for_count,
    noise_for_seeds,
    num_kept,
    num_removed,
    random_masking,
)
from .modeling.model import (
    PRESETS,
    MAEConfig,
    MAEOutput,
    MaskedAutoencoderViT,
    build_model,
    mae_vit_base_patch16,
    mae_vit_huge_patch14,
    mae_vit_large_patch16,
)
from .modeling.patches import patchify, unpatchify
from .modeling.pos_embed import sincos_2d

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "CUSTOM_MASK",
    "LOSS_TYPES",
    "MASK_STRATEGIES",
    "PATCH_METRICS",
    "PRESETS",
    "CheckpointEntry",
    "CheckpointError",
    "CheckpointInfo",
    "CheckpointNotFoundError",
    "CheckpointStatus",
    "CorruptCheckpointError",
    "DefaultPair",
    "EncoderOnlyError",
    "EvalRecord",
    "HashMismatchError",
    "ImageError",
    "ImageLike",
    "LossType",
    "MAEConfig",
    "MAEOutput",
    "MaskedAutoencoderViT",
    "MaskUncertainty",
    "Metrics",
    "ModelCache",
    "NormPixWarning",
    "PatchDifference",
    "Reconstruction",
    "Source",
    "StateDictMismatchError",
    "UnknownArchitectureError",
    "UnsafeCheckpointError",
    "build_model",
    "check_mask_ratio",
    "check_seed",
    "checkpoint_status",
    "default_pair",
    "download",
    "error_heatmap",
    "evaluate",
    "infer_config",
    "iter_evaluate",
    "load_image",
    "load_model",
    "mae_vit_base_patch16",
    "mae_vit_huge_patch14",
    "mae_vit_large_patch16",
    "mask_from_patches",
    "mask_noise",
    "mask_ratio_for_count",
    "mask_uncertainty",
    "noise_for_seeds",
    "num_kept",
    "num_removed",
    "patch_difference",
    "patchify",
    "patches_from_painting",
    "preprocess",
    "random_masking",
    "reconstruct",
    "save_checkpoint",
    "select_device",
    "shared_vmax",
    "sincos_2d",
    "transformers_to_official",
    "unpatchify",
]
