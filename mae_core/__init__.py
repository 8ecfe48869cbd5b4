"""mae_core: an exact, reproducible, batched engine for Masked Autoencoders (He et al., 2021).

Three parts: ``modeling`` (the model and its steps: masking, mask strategies, patches, position embeddings, drawn
masks), ``checkpoints`` (the registry, finding and downloading files, reading and converting them, ``load_model``)
and ``evaluation`` (preprocessing, the batched study engine, metrics, one image's reconstruction). ``files`` (content
hashes, atomic writes) serves all three. The public names are re-exported here; ``python -m mae_core`` lists,
downloads and verifies checkpoints.

The names below are imported from their modules when first used (PEP 562), so that ``import mae_core.files`` or
``mae_core.options`` (the checks of a user's seeds, ratios, strategies, dtypes and metrics) does not import torch.
"""

from __future__ import annotations

from .lazy_names import lazy_names

# module -> the public names it gives the package
_MODULES = {
    "checkpoints.checkpoint_files": ("save_checkpoint",),
    "checkpoints.convert": (
        "infer_config",
        "transformers_to_official",
    ),
    "modeling.attention": ("AttentionMap", "AttentionMaps", "record_attention", "rollout"),
    "modeling.drawn_mask": ("patches_from_painting",),
    "evaluation.engine": (
        "EvalRecord",
        "evaluate",
        "iter_evaluate",
        "select_device",
    ),
    "checkpoints.errors": (
        "CheckpointError",
        "CheckpointNotFoundError",
        "CorruptCheckpointError",
        "EncoderOnlyError",
        "HashMismatchError",
        "NormPixWarning",
        "StateDictMismatchError",
        "UnknownArchitectureError",
        "UnsafeCheckpointError",
    ),
    "evaluation.heatmap": (
        "error_heatmap",
        "shared_vmax",
        "difference_heatmap",
        "symmetric_limit",
    ),
    "checkpoints.loading": (
        "CheckpointInfo",
        "load_model",
    ),
    "options": (
        "CUSTOM_MASK",
        "MASK_STRATEGIES",
        "check_seed",
    ),
    "modeling.masking": (
        "check_mask_ratio",
        "mask_from_patches",
        "mask_noise",
        "mask_ratio_for_count",
        "noise_for_seeds",
        "num_kept",
        "num_removed",
        "random_masking",
    ),
    "evaluation.metrics": ("Metrics",),
    "modeling.model": (
        "MAEConfig",
        "MAEOutput",
        "MaskedAutoencoderViT",
        "PRESETS",
        "build_model",
        "mae_vit_base_patch16",
        "mae_vit_huge_patch14",
        "mae_vit_large_patch16",
    ),
    "checkpoints.model_cache": ("ModelCache",),
    "modeling.patches": (
        "patchify",
        "unpatchify",
    ),
    "modeling.pos_embed": ("sincos_2d",),
    "evaluation.patch_difference": ("PATCH_METRICS", "PatchDifference", "patch_difference"),
    "evaluation.uncertainty": ("MaskUncertainty", "mask_uncertainty"),
    "evaluation.preprocess": (
        "IMAGENET_MEAN",
        "IMAGENET_STD",
        "ImageError",
        "ImageLike",
        "load_image",
        "preprocess",
    ),
    "evaluation.reconstruct": (
        "Reconstruction",
        "reconstruct",
    ),
    "checkpoints.registry": (
        "CheckpointEntry",
        "CheckpointStatus",
        "DefaultPair",
        "LOSS_TYPES",
        "LossType",
        "Source",
        "checkpoint_status",
        "default_pair",
    ),
    "checkpoints.sources": ("download",),
}
__getattr__, __dir__, __all__ = lazy_names(__name__, _MODULES)
