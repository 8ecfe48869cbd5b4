"""One loader for every MAE checkpoint: exact (strict keys and shapes), safe (no arbitrary unpickling), lean, offline.

``load_model(source)`` takes a registry name, a local file or folder, ``hf://org/repo[/file][@revision]`` or an
``https://`` URL. It resolves without network in this order: local path -> Hugging Face cache -> torch hub cache,
and downloads into those same caches only when allowed. Files are read memory-mapped (safetensors, zip pickles via
``torch.load(weights_only=True, mmap=True)``); the model is built on the meta device and takes the mapped tensors
with ``load_state_dict(assign=True)``, converting dtype tensor by tensor, so no second copy of the weights exists.
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import json
import os
import pickle
import re
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from .convert import (
    VISUALIZE_HINT,
    CheckpointError,
    EncoderOnlyError,
    StateDictMismatchError,
    UnknownArchitectureError,
    check_shapes,
    detect_layout,
    hints_from_mae_config,
    hints_from_transformers_config,
    infer_config,
    strip_prefix,
    transformers_plan,
)
from .model import PRESETS, MAEConfig, MaskedAutoencoderViT
from .registry import (
    CheckpointEntry,
    Located,
    Source,
    expected_sha256,
    hf_cache_dir,
    hub_filenames,
    is_offline,
    locate_source,
    places_looked,
    torch_hub_checkpoints_dir,
    url_filename,
)
from .registry import registry as load_registry

__all__ = [
    "CheckpointError",
    "CheckpointInfo",
    "CheckpointNotFoundError",
    "CorruptCheckpointError",
    "EncoderOnlyError",
    "HashMismatchError",
    "NormPixWarning",
    "StateDictMismatchError",
    "UnknownArchitectureError",
    "UnsafeCheckpointError",
    "download",
    "file_sha256",
    "hub_blob_sha256",
    "load_model",
    "resolve",
    "save_checkpoint",
]

WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin", ".ckpt")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class CheckpointNotFoundError(CheckpointError):
    """The checkpoint is neither on disk nor downloadable (offline, unknown name, every source failed)."""


class CorruptCheckpointError(CheckpointError):
    """The file is truncated, damaged or not a checkpoint at all."""


class HashMismatchError(CheckpointError):
    """The file's sha256 differs from the published one."""


class UnsafeCheckpointError(CheckpointError):
    """The pickle needs arbitrary code to load; it was refused without running anything."""


class NormPixWarning(UserWarning):
    """The checkpoint was trained on per-patch normalised targets: reconstructions show no true colours."""


@dataclass(frozen=True)
class CheckpointInfo:
    """Where a loaded model's weights came from. ``sha256`` is computed on first use and cached per file."""

    name: str  # registry name, else a name derived from the source
    source: str  # canonical origin: hf://org/repo/file@rev, a URL, bundled:file or a local path
    path: str  # the weights file read
    format: str  # "official" | "state_dict" | "transformers" | "mae_core" | "safetensors"
    loss_type: str  # "pixel" | "gan" | "unknown"
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


# ---- hashing, once per file version ----
_HASHES: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, remembered per (real path, size, mtime) so a ViT-L file is hashed once per process."""
    real = os.path.realpath(path)
    stat = os.stat(real)
    key = (real, stat.st_size, stat.st_mtime_ns)
    if key not in _HASHES:
        with open(real, "rb") as handle:
            _HASHES[key] = hashlib.file_digest(handle, "sha256").hexdigest()
    return _HASHES[key]


def hub_blob_sha256(path: Path) -> str | None:
    """The Hub cache names LFS blobs by their sha256: free and exact for weight files."""
    name = os.path.basename(os.path.realpath(path))
    return name if _HEX64.match(name) else None


# ---- resolution ----
@dataclass(frozen=True)
class Resolved:
    name: str
    path: Path  # the weights file
    source: Source
    where: str
    entry: CheckpointEntry | None


def resolve(
    source: str | os.PathLike,
    *,
    offline: bool | None = None,
    registry: Mapping[str, CheckpointEntry] | None = None,
) -> Resolved:
    """Find (or, when allowed, download) the weights file for ``source``. Raises :class:`CheckpointNotFoundError`."""
    entries = load_registry() if registry is None else registry
    text = os.fspath(source)
    if isinstance(source, str) and text in entries:
        entry = entries[text]
        return _resolve_sources(entry.name, entry.sources, entry, offline)
    if text.startswith("hf://"):
        hub = parse_hf_uri(text)
        entry = _entry_for(
            entries, lambda s: s.kind == "hub" and s.location == hub.location and hub.filename in (None, s.filename)
        )
        return _resolve_sources(entry.name if entry else text[5:], (hub,), entry, offline)
    if text.startswith(("http://", "https://")):
        url = Source("url", text)
        entry = _entry_for(entries, lambda s: s.kind == "url" and s.location == text)
        return _resolve_sources(entry.name if entry else url_filename(text), (url,), entry, offline)
    path = Path(text).expanduser()
    if path.exists():
        weights = _weights_in(path) if path.is_dir() else path
        # a local copy of an official file keeps its registry identity (and so its loss type)
        entry = _entry_for(entries, lambda s: s.kind == "url" and url_filename(s.location) == weights.name)
        name = entry.name if entry else (path.name if path.is_dir() else path.stem)
        return Resolved(name, weights, Source("file", str(path.resolve())), "local file", entry)
    raise CheckpointNotFoundError(
        f"{text!r} is not a registry name, an existing file or folder, hf://org/repo[/file][@revision] or a URL; "
        f"registry names: {', '.join(entries)}"
    )


def parse_hf_uri(uri: str) -> Source:
    """``hf://org/repo[/path/in/repo][@revision]`` -> a hub :class:`Source`."""
    body, _, revision = uri[len("hf://") :].partition("@")
    parts = body.strip("/").split("/", 2)
    if len(parts) < 2 or not all(parts[:2]):
        raise CheckpointNotFoundError(f"expected hf://org/repo[/file][@revision], got {uri!r}")
    return Source("hub", f"{parts[0]}/{parts[1]}", parts[2] if len(parts) == 3 else None, revision or None)


def _entry_for(entries: Mapping[str, CheckpointEntry], match) -> CheckpointEntry | None:
    return next((e for e in entries.values() if any(match(s) for s in e.sources)), None)


def _weights_in(folder: Path) -> Path:
    """The weights file of a folder: transformers' names first, else its only checkpoint file."""
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (folder / name).is_file():
            return folder / name
    candidates = sorted(p for p in folder.iterdir() if p.suffix in WEIGHT_SUFFIXES and p.is_file())
    if len(candidates) != 1:
        found = ", ".join(p.name for p in candidates) or "none"
        raise CheckpointNotFoundError(
            f"folder {folder} must hold model.safetensors, pytorch_model.bin or exactly one of "
            f"{'/'.join(WEIGHT_SUFFIXES)} files; found {found}"
        )
    return candidates[0]


def _resolve_sources(
    name: str, sources: tuple[Source, ...], entry: CheckpointEntry | None, offline: bool | None
) -> Resolved:
    for source in sources:
        found = locate_source(source)
        if found is not None:
            return _resolved(name, found, entry)
    if is_offline(offline):
        looked = "; ".join(places_looked(s) for s in sources)
        raise CheckpointNotFoundError(
            f"checkpoint {name!r} is not on this machine and downloads are off (offline, HF_HUB_OFFLINE or "
            f"MAE_OFFLINE); looked in: {looked}. Fetch it where there is internet with "
            f"`python -m mae_core download {name}` (or copy the file into one of those places)"
        )
    return _resolved(name, _download_first(name, sources), entry)


def _resolved(name: str, found: Located, entry: CheckpointEntry | None) -> Resolved:
    path = _weights_in(found.path) if found.path.is_dir() else found.path
    return Resolved(name, path, found.source, found.where, entry)


# ---- downloads (into the same caches the resolution reads) ----
def download(name_or_uri: str, *, registry: Mapping[str, CheckpointEntry] | None = None) -> Resolved:
    """Make a checkpoint available on disk, downloading it if needed; ignores offline settings by design."""
    return resolve(name_or_uri, offline=False, registry=registry)


def _download_first(name: str, sources: tuple[Source, ...]) -> Located:
    failures = []
    for source in sources:
        if source.kind in ("file", "bundled"):
            failures.append(f"{places_looked(source)}: absent")
            continue
        try:
            return _fetch_hub(source) if source.kind == "hub" else _fetch_url(source)
        except HashMismatchError:
            raise
        except Exception as exc:  # any network/HTTP/auth failure: try the next source, then report them all
            failures.append(
                f"{source.describe()}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            )
    raise CheckpointNotFoundError(f"could not fetch checkpoint {name!r}: " + "; ".join(failures))


def _fetch_hub(source: Source) -> Located:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    cache = hf_cache_dir()
    for filename in hub_filenames(source):
        try:
            path = hf_hub_download(source.location, filename, revision=source.revision, cache_dir=cache)
        except EntryNotFoundError:
            if filename == hub_filenames(source)[-1]:
                raise
            continue
        if filename in ("model.safetensors", "pytorch_model.bin"):  # transformers weights need their config
            try:
                hf_hub_download(source.location, "config.json", revision=source.revision, cache_dir=cache)
            except EntryNotFoundError:
                pass  # heads then come from the official presets
        return Located(Path(path), replace(source, filename=filename), "Hugging Face cache")
    raise CheckpointNotFoundError(f"{source.describe()}: no weights file found")


def _fetch_url(source: Source) -> Located:
    folder = torch_hub_checkpoints_dir()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / url_filename(source.location)
    expected = expected_sha256(source)
    try:
        # tqdm progress bar; written to a temporary file and moved, so an interrupted download leaves nothing
        torch.hub.download_url_to_file(source.location, str(target), hash_prefix=expected, progress=True)
    except RuntimeError as exc:
        if "invalid hash value" in str(exc):
            raise HashMismatchError(f"download of {source.location} has the wrong sha256: {exc}") from None
        raise
    return Located(target, source, "torch hub cache")


# ---- reading files ----
@dataclass(frozen=True)
class RawCheckpoint:
    tensors: dict[str, torch.Tensor]  # as stored (names, dtypes), memory-mapped where the format allows
    metadata: dict[str, str]  # safetensors metadata, else empty
    format: str
    mapped: bool  # tensors are views of a file mapping: their pages can be given back after conversion


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
    fmt = "mae_core" if metadata.get("format") == "mae_core" else "safetensors"
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


# ---- the loader ----
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
    known_sha = _verify(resolved)
    raw = read_checkpoint(resolved.path)

    layout = detect_layout(raw.tensors)
    if layout == "encoder-only":
        raise EncoderOnlyError(
            f"{resolved.path.name} ({resolved.name}) has no decoder: it holds encoder-only weights (like the "
            f"official mae_pretrain_*.pth or timm's *.mae), so it cannot reconstruct images; {VISUALIZE_HINT}"
        )
    if layout == "transformers":
        plan = transformers_plan(raw.tensors)
        fmt = "transformers"
    elif layout == "official":
        plan = {name: (name,) for name in raw.tensors}
        fmt = raw.format
    else:
        raise UnknownArchitectureError(
            f"{resolved.path} is not an MAE checkpoint; its first keys: {sorted(raw.tensors)[:5]}"
        )
    shapes = {name: _planned_shape(raw.tensors, keys) for name, keys in plan.items()}

    config = _config_for(resolved, raw, shapes)
    norm_pix = config.norm_pix_loss
    loss_type = _loss_type(resolved, raw)
    with torch.device("meta"):
        model = MaskedAutoencoderViT(config)
    check_shapes(shapes, {k: tuple(v.shape) for k, v in model.state_dict().items()})
    state = _materialise(raw, plan, device=torch.device(device), dtype=dtype)
    model.load_state_dict(state, strict=True, assign=True)
    leftover = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    assert not leftover, f"tensors left on the meta device: {leftover}"
    model.eval()
    if norm_pix:
        warnings.warn(
            f"{resolved.name} was trained with norm_pix_loss: its reconstructions are per-patch normalised (each "
            "patch's mean and variance are lost) and look patchy; use a visualisation checkpoint for true colours",
            NormPixWarning,
            stacklevel=2,
        )
    model.checkpoint_info = CheckpointInfo(
        name=resolved.name,
        source=resolved.source.describe(),
        path=str(resolved.path),
        format=fmt,
        loss_type=loss_type,
        norm_pix=norm_pix,
        entry=resolved.entry,
        known_sha256=known_sha,
    )
    return model


def _verify(resolved: Resolved) -> str | None:
    """Compare against the expected sha256 when one is known; return the hash when it came for free or was paid."""
    blob = hub_blob_sha256(resolved.path)
    expected = expected_sha256(resolved.source)
    if expected is None:
        return blob
    actual = blob or file_sha256(resolved.path)
    if actual != expected:
        raise HashMismatchError(
            f"{resolved.path} has sha256 {actual}, but {resolved.name!r} must be {expected}: the file is damaged or "
            f"not the published one; delete it and run `python -m mae_core download {resolved.name}`"
        )
    return actual


def _planned_shape(tensors: Mapping[str, torch.Tensor], keys: tuple[str, ...]) -> tuple[int, ...]:
    first = tuple(tensors[keys[0]].shape)
    return (sum(tensors[k].shape[0] for k in keys), *first[1:]) if len(keys) > 1 else first


def _config_for(resolved: Resolved, raw: RawCheckpoint, shapes: Mapping[str, tuple[int, ...]]) -> MAEConfig:
    """Architecture from the tensors; heads and norm-pix from metadata, config.json, the registry or presets."""
    hints: dict[str, object] = {}
    stored: MAEConfig | None = None
    entry = resolved.entry
    preset = PRESETS.get(entry.architecture) if entry else None
    if preset is not None:
        hints.update(num_heads=preset.num_heads, decoder_num_heads=preset.decoder_num_heads)
    config_json = resolved.path.parent / "config.json"
    if config_json.is_file():
        try:
            transformers_config = json.loads(config_json.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CorruptCheckpointError(f"{config_json} is not valid JSON: {exc}") from None
        if isinstance(transformers_config, dict) and transformers_config.get("model_type") == "vit_mae":
            hints.update(hints_from_transformers_config(transformers_config))  # other models' configs are ignored
    if "mae_config" in raw.metadata:
        try:
            meta = json.loads(raw.metadata["mae_config"])
            hints.update(hints_from_mae_config(meta))
            stored = MAEConfig(**meta)
        except (json.JSONDecodeError, TypeError, ValueError) as exc:
            raise UnknownArchitectureError(f"{resolved.path}: unreadable mae_config metadata ({exc})") from None
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


def _loss_type(resolved: Resolved, raw: RawCheckpoint) -> str:
    if resolved.entry is not None:
        return resolved.entry.loss_type
    if raw.metadata.get("loss_type") in ("pixel", "gan"):
        return raw.metadata["loss_type"]
    name = resolved.path.name
    if "ganloss" in name:
        return "gan"
    if name.startswith("mae_visualize_"):
        return "pixel"
    return "unknown"


def _materialise(
    raw: RawCheckpoint, plan: Mapping[str, tuple[str, ...]], *, device: torch.device, dtype: torch.dtype
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
                    _release_pages(src)
        state[name] = tensor
    return state


_MADV_DONTNEED = 4
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _release_pages(tensor: torch.Tensor) -> None:
    """Drop the resident pages of a file-mapped tensor that is no longer needed (Linux).

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
    model: MaskedAutoencoderViT, path: str | os.PathLike, *, loss_type: str, dtype: torch.dtype | None = None
) -> Path:
    """Write ``model`` as a project safetensors file: official names, metadata ``{"format": "mae_core",
    "mae_config": <json>, "loss_type": ...}``. ``dtype`` (e.g. ``torch.float16``) sets the storage type; loading
    converts back to the requested dtype. Written to a temporary name and moved, so readers never see half a file."""
    from safetensors.torch import save_file

    if loss_type not in ("pixel", "gan"):
        raise ValueError(f"loss_type must be 'pixel' or 'gan', got {loss_type!r}")
    if dtype is not None and (not isinstance(dtype, torch.dtype) or not dtype.is_floating_point):
        raise ValueError(f"dtype must be a floating torch dtype or None, got {dtype!r}")
    path = Path(path)
    tensors = {
        name: (t.detach().to("cpu", dtype) if dtype is not None and t.is_floating_point() else t.detach().cpu())
        .contiguous()
        .clone()  # own storage: safetensors refuses shared or file-mapped views
        for name, t in model.state_dict().items()
    }
    metadata = {"format": "mae_core", "mae_config": json.dumps(model.config.to_dict()), "loss_type": loss_type}
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    os.replace(tmp, path)
    return path
