"""Checkpoint files on disk: reading any supported format safely and lean, and writing the project's own.

Reading sniffs the format from the first bytes (safetensors, torch.save zip, legacy pickle) and never runs code
from the file: safetensors, or ``torch.load(weights_only=True)``. Both are memory-mapped where the format allows,
and :func:`release_pages` gives a mapped tensor's pages back once its converted copy exists. Writing is
:func:`save_checkpoint`: safetensors with official names and the metadata that makes the file self-describing.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import pickle
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from ..files import atomic_output
from ..modeling.model import MaskedAutoencoderViT
from .convert import strip_prefix
from .errors import CorruptCheckpointError, UnknownArchitectureError, UnsafeCheckpointError
from .registry import LOSS_TYPES, LossType

FORMAT_TAG = "mae_core"  # safetensors metadata "format" of the files this project writes


@dataclass(frozen=True)
class RawCheckpoint:
    tensors: dict[str, torch.Tensor]  # as stored (names, dtypes), memory-mapped where the format allows
    metadata: dict[str, str]  # safetensors metadata, else empty
    format: str  # "official" | "state_dict" | "mae_core" | "safetensors"
    mapped: bool  # tensors are views of a file mapping: their pages can be given back after conversion


# ---- reading ----
def read_checkpoint(path: str | os.PathLike) -> RawCheckpoint:
    """Open a checkpoint file without running code from it. Raises Corrupt/Unsafe/UnknownArchitecture errors."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(9)
        size = path.stat().st_size
    except OSError as exc:
        raise CorruptCheckpointError(f"cannot read {path}: {exc.strerror or exc}") from None
    if head[:4] == b"PK\x03\x04":
        return _read_pickle(path, mmap=True)
    if head[8:9] == b"{":  # safetensors: 8-byte header length, then the JSON header
        return _read_safetensors(path)
    if head[:1] == b"\x80":  # a pickle stream: torch's legacy format, or a bare pickle
        return _read_pickle(path, mmap=False)
    raise CorruptCheckpointError(
        f"{path} ({size} bytes) is not a checkpoint: expected a safetensors file or a torch.save zip/pickle "
        f"(truncated or damaged download? delete it and fetch again)"
    )


def _read_safetensors(path: Path) -> RawCheckpoint:
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = dict(handle.metadata() or {})
        tensors = load_file(str(path))  # memory-mapped: pages are read on first touch
    except (SafetensorError, OSError, ValueError) as exc:
        raise CorruptCheckpointError(
            f"{path} is a damaged safetensors file ({exc}); delete it and fetch again"
        ) from None
    fmt = FORMAT_TAG if metadata.get("format") == FORMAT_TAG else "safetensors"
    return RawCheckpoint(tensors, metadata, fmt, mapped=True)


def _read_pickle(path: Path, *, mmap: bool) -> RawCheckpoint:
    try:
        # weights_only: tensors and plain containers only; anything else is refused BEFORE it could run. The one
        # class allowed besides: argparse.Namespace, the "args" that the official training script saves beside the
        # weights (its unpickling only sets attributes, it runs no code)
        with torch.serialization.safe_globals([argparse.Namespace]):
            obj = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as exc:
        reason = _reason(str(exc))
        if "GLOBAL" in reason:
            raise UnsafeCheckpointError(
                f"{path} is a pickle that needs arbitrary code to load ({reason}); refused without running it. "
                "If you trust it, re-save only its tensors (torch.save(state_dict)) or convert it to safetensors"
            ) from None
        raise CorruptCheckpointError(f"{path} is a damaged pickle ({reason}); delete it and fetch again") from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise CorruptCheckpointError(
            f"{path} is truncated or damaged ({_reason(str(exc))}); delete it and fetch again"
        ) from None
    state, fmt = _unwrap(obj, path)
    return RawCheckpoint(state, {}, fmt, mapped=mmap)


def _reason(message: str) -> str:
    """The informative line of torch's multi-paragraph errors: the refused GLOBAL if any, else the first line that
    is not generic advice; its first sentence, without terminal colour codes."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in message.splitlines()]
    lines = [line for line in lines if line]
    boiler = ("Weights only load failed", "Check the documentation", "(1)", "(2)")
    picked = next((line for line in lines if "GLOBAL" in line), None)
    picked = picked or next((line for line in lines if not line.startswith(boiler)), lines[0] if lines else "")
    return picked.removeprefix("WeightsUnpickler error: ").split(". ")[0][:200]


def _unwrap(obj: object, path: Path) -> tuple[dict[str, torch.Tensor], str]:
    """``{"model": state_dict}`` (official) or a bare state dict."""
    fmt = "state_dict"
    if isinstance(obj, dict):
        for key in ("model", "state_dict"):
            if isinstance(obj.get(key), dict):
                obj, fmt = obj[key], "official" if key == "model" else "state_dict"
                break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        keys = list(obj)[:8] if isinstance(obj, dict) else type(obj).__name__
        raise UnknownArchitectureError(
            f"{path} holds no state dict (a dict of tensors, or one under 'model'); found {keys}"
        )
    return strip_prefix(obj), fmt


# ---- giving mapped pages back ----
_MADV_DONTNEED = 4
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def release_pages(tensor: torch.Tensor) -> None:
    """Drop the resident pages of a file-mapped tensor that is no longer needed (Linux; elsewhere nothing).

    Only whole pages inside the tensor are dropped, and they are clean pages of a read-only use of the file: if
    anything touched them again they would be read back from the file unchanged.
    """
    if _LIBC is None or tensor.numel() == 0:
        return
    start = tensor.data_ptr()
    end = start + tensor.numel() * tensor.element_size()
    first = -(-start // _PAGE) * _PAGE  # round up
    last = end // _PAGE * _PAGE  # round down
    if last > first:
        _LIBC.madvise(ctypes.c_void_p(first), ctypes.c_size_t(last - first), _MADV_DONTNEED)


# ---- writing our own files ----
def save_checkpoint(
    model: MaskedAutoencoderViT, path: str | os.PathLike, *, loss_type: LossType, dtype: torch.dtype | None = None
) -> Path:
    """Write ``model`` as a project safetensors file: official names, metadata ``{"format": "mae_core",
    "mae_config": <json>, "loss_type": ...}``. ``dtype`` (e.g. ``torch.float16``) sets the storage type; loading
    converts back to the requested dtype. Written atomically, so readers never see half a file."""
    from safetensors.torch import save_file

    if loss_type not in LOSS_TYPES:
        raise ValueError(f"loss_type must be one of {LOSS_TYPES}, got {loss_type!r}")
    if dtype is not None and (not isinstance(dtype, torch.dtype) or not dtype.is_floating_point):
        raise ValueError(f"dtype must be a floating torch dtype or None, got {dtype!r}")
    tensors = {
        name: (t.detach().to("cpu", dtype) if dtype is not None and t.is_floating_point() else t.detach().cpu())
        .contiguous()
        .clone()  # own storage: safetensors refuses shared or file-mapped views
        for name, t in model.state_dict().items()
    }
    metadata = {"format": FORMAT_TAG, "mae_config": json.dumps(model.config.to_dict()), "loss_type": loss_type}
    with atomic_output(path) as staging:
        save_file(tensors, str(staging), metadata=metadata)
    return Path(path)
