"""The bundled form of a trained pair: float16 safetensors and a ``SHA256SUMS`` file, as in ``mae_core/bundled/``."""

from __future__ import annotations

from pathlib import Path

import torch

from mae_core.checkpoint_files import save_checkpoint
from mae_core.files import atomic_write_text, file_sha256
from mae_core.loading import load_model
from recipes.tiny_pair.trainer import GAN_WEIGHTS, PIXEL_WEIGHTS, TrainResult


def export(result: TrainResult, dest: Path) -> list[Path]:
    """Write the final float16 pair and ``SHA256SUMS`` (``sha256sum`` format, names relative) into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for source, name, loss_type in ((result.pixel_path, PIXEL_WEIGHTS, "pixel"), (result.gan_path, GAN_WEIGHTS, "gan")):
        if source is None:
            continue
        model = load_model(source, offline=True)  # strict loading checks the float32 file on the way
        written.append(save_checkpoint(model, dest / name, loss_type=loss_type, dtype=torch.float16))
    atomic_write_text(dest / "SHA256SUMS", "".join(f"{file_sha256(p)}  {p.name}\n" for p in sorted(written)))
    return written
