"""Builders for fake Hugging Face and torch hub caches in a temporary folder (nothing is ever downloaded in tests)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch

from mae_core.modeling.model import MAEConfig

COMMIT = "0123456789abcdef0123456789abcdef01234567"  # 40 hex: what refs/main holds


def add_to_hf_cache(cache: Path, repo_id: str, files: dict[str, Path], commit: str = COMMIT) -> Path:
    """Lay out ``files`` (name in repo -> file) as huggingface_hub does; return the snapshot folder.

    ``models--org--name/blobs/<hash>`` holds the bytes (sha256 names, as for LFS files), ``snapshots/<commit>/<name>``
    are relative symlinks into ``blobs``, and ``refs/main`` holds the commit with NO trailing newline.
    """
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / commit
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    (repo / "refs").mkdir(exist_ok=True)
    snapshot.mkdir(parents=True, exist_ok=True)
    for name, src in files.items():
        data = Path(src).read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    (repo / "refs" / "main").write_text(commit)  # write_text adds no newline
    return snapshot


def tiny_transformers_model(seed: int = 0):
    """A small ``ViTMAEForPreTraining`` (official eps 1e-6), deterministic in ``seed``, in eval mode."""
    from transformers import ViTMAEConfig, ViTMAEForPreTraining

    config = ViTMAEConfig(
        image_size=32,
        patch_size=8,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        decoder_hidden_size=16,
        decoder_num_hidden_layers=1,
        decoder_num_attention_heads=2,
        decoder_intermediate_size=64,
        layer_norm_eps=1e-6,
        mask_ratio=0.75,
    )
    torch.manual_seed(seed)
    return ViTMAEForPreTraining(config).eval()


# an official-named model whose widths are official presets (768 -> 12 heads, 512 -> 16) so no config is needed,
# kept small: 2x2 patches of 16 px, one block each, MLP ratio 1
PRESET_WIDTH_CONFIG = MAEConfig(
    img_size=32,
    patch_size=16,
    embed_dim=768,
    depth=1,
    num_heads=12,
    decoder_embed_dim=512,
    decoder_depth=1,
    decoder_num_heads=16,
    mlp_ratio=1.0,
)


def official_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def add_lpips_standin(torch_home: Path, seed: int = 0) -> Path:
    """A stand-in for torchvision's ``alexnet-owt-7be5be79.pth`` in ``torch_home``'s hub cache: AlexNet's
    convolutions with random weights (seeded), saved as a plain state dict like the real file (its classifier
    left out: LPIPS never reads it, and it would add 230 MB)."""
    from torchvision.models import alexnet

    from mae_core.evaluation.perceptual import ALEXNET_FILE

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        features = alexnet(weights=None).features
    path = torch_home / "hub" / "checkpoints" / ALEXNET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, path)
    return path
