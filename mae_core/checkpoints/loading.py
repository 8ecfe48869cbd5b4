"""One loader for every MAE checkpoint: exact (strict keys and shapes), safe (no arbitrary unpickling), lean, offline.

``load_model(source)`` takes a registry name, a local file or folder, ``hf://org/repo[/file][@revision]`` or an
``https://`` URL. ``sources`` finds the file (downloading through ``downloads`` only when allowed),
``checkpoint_files`` reads it memory-mapped without running code from it, ``convert`` renames foreign layouts and
reads the architecture off the tensors. The model is built on the meta device and takes the mapped tensors with
``load_state_dict(assign=True)``, converting dtype tensor by tensor, so no second copy of the weights exists.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

import torch

from ..files import file_sha256
from ..modeling.model import PRESETS, MAEConfig, MaskedAutoencoderViT
from .checkpoint_files import RawCheckpoint, read_checkpoint, release_pages
from .convert import (
    check_shapes,
    detect_layout,
    hints_from_mae_config,
    hints_from_transformers_config,
    infer_config,
    transformers_plan,
)
from .errors import (
    VISUALIZE_HINT,
    CorruptCheckpointError,
    EncoderOnlyError,
    NormPixWarning,
    StateDictMismatchError,
    UnknownArchitectureError,
)
from .registry import LOSS_TYPES, CheckpointEntry, LossType
from .sources import Resolved, resolve, verify_sha256

__all__ = ["CheckpointInfo", "load_model"]

Plan = dict[str, tuple[str, ...]]  # official name -> the stored tensors that make it, in order


@dataclass(frozen=True)
class CheckpointInfo:
    """Where a loaded model's weights came from. ``sha256`` is computed on first use and cached per file."""

    name: str  # registry name, else a name derived from the source
    source: str  # canonical origin: hf://org/repo/file@rev, a URL, bundled:file or a local path
    path: str  # the weights file read
    format: str  # "official" | "state_dict" | "transformers" | "mae_core" | "safetensors"
    loss_type: LossType | Literal["unknown"]  # "unknown": neither registry, metadata nor file name tells
    norm_pix: bool
    entry: CheckpointEntry | None = None
    known_sha256: str | None = None  # from the Hub cache's blob name or a verified hash; else hashed lazily

    @property
    def sha256(self) -> str:
        return self.known_sha256 or file_sha256(self.path)

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "source": self.source,
            "path": self.path,
            "sha256": self.sha256,
            "format": self.format,
            "loss_type": self.loss_type,
            "norm_pix": self.norm_pix,
        }


def load_model(
    source: str | os.PathLike,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    offline: bool | None = None,
    registry: Mapping[str, CheckpointEntry] | None = None,
) -> MaskedAutoencoderViT:
    """A :class:`MaskedAutoencoderViT` in eval mode with exactly the checkpoint's weights, and ``.checkpoint_info``.

    ``source``: a registry name, a file or folder, ``hf://org/repo[/file][@revision]`` or a URL. ``offline=None``
    allows downloads unless ``HF_HUB_OFFLINE``/``MAE_OFFLINE`` is set. Errors are :class:`CheckpointError`
    subclasses that say what is wrong and what to do.
    """
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating torch dtype (float32, bfloat16, float16), got {dtype!r}")
    resolved = resolve(source, offline=offline, registry=registry)
    known_sha = verify_sha256(resolved)
    raw = read_checkpoint(resolved.path)
    plan, fmt = _plan(resolved, raw)
    shapes = {name: _planned_shape(raw.tensors, keys) for name, keys in plan.items()}
    config = _config_for(resolved, raw, shapes)
    model = _build(config, raw, plan, shapes, device=torch.device(device), dtype=dtype)
    if config.norm_pix_loss:
        warnings.warn(
            f"{resolved.name} was trained with norm_pix_loss: it predicts per-patch normalised pixels; reconstruct "
            "puts each patch's mean and spread back with denorm='honest' (estimated from the visible patches, the "
            "default, also what evaluate and sweeps measure) or denorm='oracle' (the removed patches' true ones: leaks "
            "the answer)",
            NormPixWarning,
            stacklevel=2,
        )
    model.checkpoint_info = CheckpointInfo(
        name=resolved.name,
        source=resolved.source.describe(),
        path=str(resolved.path),
        format=fmt,
        loss_type=_loss_type(resolved, raw),
        norm_pix=config.norm_pix_loss,
        entry=resolved.entry,
        known_sha256=known_sha,
    )
    return model


def _plan(resolved: Resolved, raw: RawCheckpoint) -> tuple[Plan, str]:
    """How the stored tensors become the official ones, and the file's format name."""
    layout = detect_layout(raw.tensors)
    if layout == "encoder-only":
        raise EncoderOnlyError(
            f"{resolved.path.name} ({resolved.name}) has no decoder: it holds encoder-only weights (like the "
            f"official mae_pretrain_*.pth or timm's *.mae), so it cannot reconstruct images; {VISUALIZE_HINT}"
        )
    if layout == "transformers":
        return transformers_plan(raw.tensors), "transformers"
    if layout == "official":
        return {name: (name,) for name in raw.tensors}, raw.format
    raise UnknownArchitectureError(
        f"{resolved.path} is not an MAE checkpoint; its first keys: {sorted(raw.tensors)[:5]}"
    )


def _build(
    config: MAEConfig,
    raw: RawCheckpoint,
    plan: Plan,
    shapes: Mapping[str, tuple[int, ...]],
    *,
    device: torch.device,
    dtype: torch.dtype,
) -> MaskedAutoencoderViT:
    """The model on the meta device, checked strictly against ``shapes``, then given the converted tensors."""
    with torch.device("meta"):
        model = MaskedAutoencoderViT(config)
    check_shapes(shapes, {k: tuple(v.shape) for k, v in model.state_dict().items()})
    model.load_state_dict(_materialise(raw, plan, device=device, dtype=dtype), strict=True, assign=True)
    leftover = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    assert not leftover, f"tensors left on the meta device: {leftover}"
    return model.eval()


def _planned_shape(tensors: Mapping[str, torch.Tensor], keys: tuple[str, ...]) -> tuple[int, ...]:
    first = tuple(tensors[keys[0]].shape)
    return (sum(tensors[k].shape[0] for k in keys), *first[1:]) if len(keys) > 1 else first


def _config_for(resolved: Resolved, raw: RawCheckpoint, shapes: Mapping[str, tuple[int, ...]]) -> MAEConfig:
    """Architecture from the tensors; heads and norm-pix from metadata, config.json, the registry or presets."""
    entry = resolved.entry
    preset = PRESETS.get(entry.architecture) if entry else None
    hints: dict[str, object] = {}
    if preset is not None:
        hints.update(num_heads=preset.num_heads, decoder_num_heads=preset.decoder_num_heads)
    hints.update(_transformers_config_hints(resolved))
    stored_hints, stored = _stored_config(resolved, raw)
    hints.update(stored_hints)
    if (entry and entry.norm_pix) or resolved.path.name.endswith("_full.pth"):
        hints["norm_pix_loss"] = True
    config = infer_config(shapes, hints)
    if stored is not None and replace(stored, norm_pix_loss=config.norm_pix_loss) != config:
        raise StateDictMismatchError(f"{resolved.path}: tensors describe {config}, but its metadata says {stored}")
    if preset is not None and replace(preset, norm_pix_loss=config.norm_pix_loss) != config:
        raise StateDictMismatchError(
            f"{resolved.path} is not a {entry.architecture} as registry entry {entry.name!r} says: "
            f"its tensors describe {config}"
        )
    return config


def _transformers_config_hints(resolved: Resolved) -> dict[str, object]:
    """Heads and norm-pix from a transformers ``config.json`` beside the weights (other models' configs ignored)."""
    config_json = resolved.path.parent / "config.json"
    if not config_json.is_file():
        return {}
    try:
        config = json.loads(config_json.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorruptCheckpointError(f"{config_json} is not valid JSON: {exc}") from None
    if isinstance(config, dict) and config.get("model_type") == "vit_mae":
        return hints_from_transformers_config(config)
    return {}


def _stored_config(resolved: Resolved, raw: RawCheckpoint) -> tuple[dict[str, object], MAEConfig | None]:
    """The hints and the :class:`MAEConfig` that a project file's metadata holds, if any."""
    if "mae_config" not in raw.metadata:
        return {}, None
    try:
        meta = json.loads(raw.metadata["mae_config"])
        return hints_from_mae_config(meta), MAEConfig(**meta)
    except (json.JSONDecodeError, TypeError, ValueError) as exc:
        raise UnknownArchitectureError(f"{resolved.path}: unreadable mae_config metadata ({exc})") from None


def _loss_type(resolved: Resolved, raw: RawCheckpoint) -> LossType | Literal["unknown"]:
    if resolved.entry is not None:
        return resolved.entry.loss_type
    if raw.metadata.get("loss_type") in LOSS_TYPES:
        return raw.metadata["loss_type"]
    name = resolved.path.name
    if "ganloss" in name:
        return "gan"
    if name.startswith("mae_visualize_"):
        return "pixel"
    return "unknown"


def _materialise(
    raw: RawCheckpoint, plan: Plan, *, device: torch.device, dtype: torch.dtype
) -> dict[str, torch.Tensor]:
    """Official name -> tensor on ``device``/``dtype``, one tensor at a time.

    A tensor already in the right dtype and on the CPU stays a view of the file mapping (no copy). A converted one
    (dtype, device, or a query/key/value concatenation) is copied, and the mapped pages of its sources are given back
    at once, so the peak stays near the size of the result instead of the file plus the result.
    """
    state = {}
    for name, keys in plan.items():
        sources = [raw.tensors[k] for k in keys]
        tensor = sources[0] if len(sources) == 1 else torch.cat(sources)  # qkv: [3D, D] from three [D, D]
        target_dtype = dtype if tensor.is_floating_point() else tensor.dtype
        tensor = tensor.to(device=device, dtype=target_dtype)
        if raw.mapped:
            for src in sources:
                if src.data_ptr() != tensor.data_ptr():
                    release_pages(src)
        state[name] = tensor
    return state
