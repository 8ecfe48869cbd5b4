"""The bundled form of a trained pair: float16 safetensors and a ``SHA256SUMS`` file, as in ``mae_core/bundled/``."""

from __future__ import annotations

from pathlib import Path

import torch

from mae_core.checkpoints.checkpoint_files import save_checkpoint
from mae_core.checkpoints.loading import load_model
from mae_core.files import atomic_write_bytes, atomic_write_text, file_sha256
from recipes.tiny_pair.trainer import GAN_WEIGHTS, PIXEL_WEIGHTS, TrainResult


def export(result: TrainResult, dest: Path) -> list[Path]:
    """Write the final float16 pair and ``SHA256SUMS`` (``sha256sum`` format, names relative) into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    if result.pixel_trained:
        model = load_model(result.pixel_path, offline=True)  # strict loading checks the float32 file on the way
        written.append(save_checkpoint(model, dest / PIXEL_WEIGHTS, loss_type="pixel", dtype=torch.float16))
    else:  # fine-tuned from an existing pixel model: that file is the pair's pixel model, unchanged to the byte
        if result.pixel_path.resolve() != (dest / PIXEL_WEIGHTS).resolve():
            atomic_write_bytes(dest / PIXEL_WEIGHTS, result.pixel_path.read_bytes())
        written.append(dest / PIXEL_WEIGHTS)
    if result.gan_path is not None:
        model = load_model(result.gan_path, offline=True)
        written.append(save_checkpoint(model, dest / GAN_WEIGHTS, loss_type="gan", dtype=torch.float16))
    atomic_write_text(dest / "SHA256SUMS", "".join(f"{file_sha256(p)}  {p.name}\n" for p in sorted(written)))
    return written
