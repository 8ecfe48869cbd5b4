"""mae_core: an exact, reproducible, batched engine for Masked Autoencoders (He et al., 2021).

The model and its steps (``model``, ``masking``, ``patches``, ``pos_embed``), inputs and outputs (``preprocess``,
``metrics``, ``reconstruct``), the batched study engine (``engine``, ``packed``) and checkpoints (``registry``,
``sources``, ``downloads``, ``checkpoint_files``, ``convert``, ``loading``, ``errors``). ``python -m mae_core``
lists, downloads and verifies checkpoints.

The names below are imported from their modules when first used (PEP 562), so that ``import mae_core.files`` or
``mae_core.options`` (the checks of a user's seeds, ratios, strategies, dtypes and metrics) does not import torch.
"""

from __future__ import annotations

from .lazy_names import lazy_names

# module -> the public names it gives the package
_MODULES = {
    "checkpoint_files": ("save_checkpoint",),
    "convert": (
        "infer_config",
        "transformers_to_official",
    ),
    "drawn_mask": ("patches_from_painting",),
    "engine": (
        "EvalRecord",
        "evaluate",
        "iter_evaluate",
        "select_device",
    ),
    "errors": (
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
    "heatmap": (
        "error_heatmap",
        "shared_vmax",
    ),
    "loading": (
        "CheckpointInfo",
        "load_model",
    ),
    "mask_strategies": (
        "CUSTOM_MASK",
        "MASK_STRATEGIES",
    ),
    "masking": (
        "check_mask_ratio",
        "check_seed",
        "mask_from_patches",
        "mask_noise",
        "mask_ratio_for_count",
        "noise_for_seeds",
        "num_kept",
        "num_removed",
        "random_masking",
    ),
    "metrics": ("Metrics",),
    "model": (
        "MAEConfig",
        "MAEOutput",
        "MaskedAutoencoderViT",
        "PRESETS",
        "build_model",
        "mae_vit_base_patch16",
        "mae_vit_huge_patch14",
        "mae_vit_large_patch16",
    ),
    "model_cache": ("ModelCache",),
    "patches": (
        "patchify",
        "unpatchify",
    ),
    "pos_embed": ("sincos_2d",),
    "preprocess": (
        "IMAGENET_MEAN",
        "IMAGENET_STD",
        "ImageError",
        "ImageLike",
        "load_image",
        "preprocess",
    ),
    "reconstruct": (
        "Reconstruction",
        "reconstruct",
    ),
    "registry": (
        "CheckpointEntry",
        "CheckpointStatus",
        "DefaultPair",
        "LOSS_TYPES",
        "LossType",
        "Source",
        "checkpoint_status",
        "default_pair",
    ),
    "sources": ("download",),
}
__getattr__, __dir__, __all__ = lazy_names(__name__, _MODULES)
