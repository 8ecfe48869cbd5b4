"""The recipe that trains the bundled ``tiny-pixel`` / ``tiny-gan`` pair from scratch, on a 2-core CPU.

Two phases, mirroring the official visualisation checkpoints:

1. ``pixel``: a small :class:`MaskedAutoencoderViT` learns the model's own loss (MSE on the removed patches, in
   ImageNet-normalised pixels; mask ratio 0.75), AdamW with linear warm-up and cosine decay.
2. ``gan``: a copy of the result is fine-tuned with ``pixel loss + gan_weight * adversarial loss`` against a small
   patch discriminator (``experiments/discriminator.py``), which judges the image with the reconstruction pasted into
   the removed patches.

Data: natural photographs that ship inside installed PyPI packages (see ``TRAIN_IMAGES``), augmented with random
resized crops and horizontal flips whose parameters come from an explicit ``numpy`` Generator; masks come from an
explicit ``torch.Generator``; weights are initialised under a forked, seeded global RNG. Same seed, same thread count
-> same losses. A checkpoint every ``--checkpoint-every`` steps makes the run resumable (rerun the same command).

    python -m experiments.train --out build/train --export mae_core/bundled       # the bundled pair (~30 min)
    python -m experiments.train --out /tmp/smoke --steps 3 --gan-steps 2 --img-size 64 --batch-size 4   # seconds
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, fields, replace
from importlib import resources
from pathlib import Path

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF
from PIL import Image
from tqdm import tqdm

from experiments.discriminator import PatchDiscriminator, discriminator_loss, generator_loss
from mae_core.loading import load_model, save_checkpoint
from mae_core.masking import mask_noise
from mae_core.model import MAEConfig, MaskedAutoencoderViT
from mae_core.patches import unpatchify
from mae_core.preprocess import IMAGENET_MEAN, IMAGENET_STD

# ~3.4 M parameters: a 6-block, 192-wide encoder and a 2-block, 128-wide decoder over 14x14 patches of 16 px.
TINY_CONFIG = MAEConfig(
    img_size=224,
    patch_size=16,
    embed_dim=192,
    depth=6,
    num_heads=3,
    decoder_embed_dim=128,
    decoder_depth=2,
    decoder_num_heads=4,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLES_DIR = REPO_ROOT / "examples"
CHECKPOINT_NAME = "checkpoint.pt"
PIXEL_DONE_NAME = "checkpoint-pixel-done.pt"  # a copy taken when the pixel phase ends (rerun only the GAN phase)
# settings that only the GAN phase reads
GAN_FIELDS = frozenset({"gan_steps", "gan_lr", "disc_lr", "gan_weight", "disc_width"})


@dataclass(frozen=True)
class PackagedImage:
    """A photograph shipped inside an installed package, with the licence its package documents."""

    name: str
    package: str  # importable package holding the file
    path: str  # path inside the package
    licence: str

    def open(self) -> Image.Image:
        with resources.as_file(resources.files(self.package).joinpath(self.path)) as file:
            with Image.open(file) as img:
                return img.convert("RGB")  # grey images become 3 equal channels


# Licences as written in each package's own docstrings (skimage.data.<name>) and README (sklearn images).
TRAIN_IMAGES: tuple[PackagedImage, ...] = (
    PackagedImage("astronaut", "skimage", "data/astronaut.png", "public domain (NASA)"),
    PackagedImage("camera", "skimage", "data/camera.png", "CC0 (Lav Varshney)"),
    PackagedImage("brick", "skimage", "data/brick.png", "CC0 (CC0Textures)"),
    PackagedImage("grass", "skimage", "data/grass.png", "CC0 (DeviantArt, linolafett)"),
    PackagedImage("gravel", "skimage", "data/gravel.png", "CC0 (CC0Textures)"),
    PackagedImage("cell", "skimage", "data/cell.png", "CC0 (Paul Mueller et al.)"),
    PackagedImage("clock", "skimage", "data/clock_motion.png", "public domain (Stefan van der Walt)"),
    PackagedImage("coins", "skimage", "data/coins.png", "no known copyright restrictions (Brooklyn Museum)"),
    PackagedImage("hubble_deep_field", "skimage", "data/hubble_deep_field.jpg", "public domain (NASA)"),
    PackagedImage("immunohistochemistry", "skimage", "data/ihc.png", "no known copyright restrictions (CMMI)"),
    PackagedImage("retina", "skimage", "data/retina.jpg", "CC0 (Mikael Haggstrom)"),
    PackagedImage("text", "skimage", "data/text.png", "public domain (Wikipedia)"),
    PackagedImage("china", "sklearn.datasets.images", "china.jpg", "CC BY 2.0 (danielbuechele, Flickr)"),
)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a run; stored in the checkpoint so a resume cannot silently change it."""

    steps: int = 2400  # pixel-loss phase
    gan_steps: int = 500  # adversarial fine-tuning phase
    batch_size: int = 32
    img_size: int = 224
    mask_ratio: float = 0.75
    lr: float = 1.0e-3
    min_lr: float = 1.0e-5
    warmup_steps: int = 120
    weight_decay: float = 0.05
    gan_lr: float = 1.0e-4
    disc_lr: float = 2.0e-4
    gan_weight: float = 0.1  # weight of the generator's hinge loss next to the pixel loss (weight 1)
    disc_width: int = 32
    crop_scale: tuple[float, float] = (0.08, 1.0)
    max_side: int = 512  # photos are downscaled once so that their longer side is at most this
    seed: int = 0
    bf16: bool = True  # bfloat16 autocast on the CPU (fast on AMX); master weights stay float32
    checkpoint_every: int = 200

    def __post_init__(self) -> None:
        if self.steps < 1 or self.gan_steps < 0 or self.batch_size < 1:
            raise ValueError(
                f"need steps >= 1, gan_steps >= 0, batch_size >= 1; got {self.steps}, {self.gan_steps}, "
                f"{self.batch_size}"
            )
        if self.img_size % TINY_CONFIG.patch_size:
            raise ValueError(f"img_size must be a multiple of {TINY_CONFIG.patch_size}, got {self.img_size}")
        if not 0.0 < self.mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must lie strictly between 0 and 1, got {self.mask_ratio}")
        if not 0.0 < self.crop_scale[0] <= self.crop_scale[1] <= 1.0:
            raise ValueError(f"crop_scale must satisfy 0 < min <= max <= 1, got {self.crop_scale}")

    @property
    def model_config(self) -> MAEConfig:
        return replace(TINY_CONFIG, img_size=self.img_size)

    def to_dict(self) -> dict:
        return {**asdict(self), "crop_scale": list(self.crop_scale)}


@dataclass(frozen=True)
class TrainResult:
    """Paths a finished run wrote, and its loss history (one row per step)."""

    pixel_path: Path  # float32 safetensors of the pixel-loss model
    gan_path: Path | None  # float32 safetensors of the GAN-loss model (None when gan_steps == 0)
    curve_path: Path  # PNG loss curve
    history: list[dict]
    seconds: float


@dataclass(frozen=True)
class HeldoutScores:
    """Held-out reconstruction quality, averaged over (image, seed) pairs; pixels in [0, 1] RGB."""

    mse: float  # mean squared error on the removed patches
    mean_fill_mse: float  # the same for a baseline that paints every removed patch the visible patches' mean colour
    gradient: float  # mean gradient magnitude inside the removed region of the reconstruction (texture energy)


# ---------------------------------------------------------------------------------------------------------- data
def load_photos(images: tuple[PackagedImage, ...] = TRAIN_IMAGES, max_side: int = 512) -> list[torch.Tensor]:
    """Each photo as a uint8 tensor [3, H, W], downscaled (Lanczos) so that max(H, W) <= ``max_side``."""
    photos = []
    for item in images:
        img = item.open()
        scale = max_side / max(img.size)
        if scale < 1.0:
            img = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.LANCZOS)
        photos.append(torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1).contiguous())
    return photos


def crop_box(
    height: int, width: int, scale: tuple[float, float], rng: np.random.Generator
) -> tuple[int, int, int, int]:
    """(top, left, h, w) of a random-resized crop: area fraction in ``scale``, aspect ratio log-uniform in [3/4, 4/3]
    (Inception-style); falls back to the largest centred square after 10 rejected draws."""
    area = height * width
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
        w = round(math.sqrt(target * aspect))
        h = round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            top = int(rng.integers(0, height - h + 1))
            left = int(rng.integers(0, width - w + 1))
            return top, left, h, w
    side = min(height, width)
    return (height - side) // 2, (width - side) // 2, side, side


def sample_batch(
    photos: list[torch.Tensor], batch_size: int, img_size: int, scale: tuple[float, float], rng: np.random.Generator
) -> torch.Tensor:
    """[batch_size, 3, img_size, img_size] float32, ImageNet-normalised: random photo, random resized crop, flip."""
    crops = []
    for index in rng.integers(0, len(photos), size=batch_size):
        photo = photos[int(index)]
        top, left, h, w = crop_box(photo.shape[1], photo.shape[2], scale, rng)
        crop = TF.resized_crop(photo, top, left, h, w, [img_size, img_size], antialias=True)
        if rng.random() < 0.5:
            crop = TF.horizontal_flip(crop)
        crops.append(crop)
    return normalize(torch.stack(crops).float() / 255.0)


def normalize(unit: torch.Tensor) -> torch.Tensor:
    """[N, 3, H, W] in [0, 1] -> ImageNet-normalised."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32).view(1, 3, 1, 1)
    return (unit - mean) / std


def to_unit(imgs: torch.Tensor) -> torch.Tensor:
    """ImageNet-normalised [N, 3, H, W] -> [0, 1], clipped."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32).view(1, 3, 1, 1)
    return (imgs * std + mean).clamp(0.0, 1.0)


# ------------------------------------------------------------------------------------------------------- helpers
def seeded_init(seed: int, build):
    """Run ``build()`` (which draws initial weights from torch's global RNG) under a forked RNG seeded with
    ``seed``, so the caller's global random state is left untouched and the weights depend only on ``seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def lr_at(step: int, total: int, peak: float, floor: float, warmup: int) -> float:
    """Linear warm-up over ``warmup`` steps, then half a cosine from ``peak`` down to ``floor`` at ``total``."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return floor + (peak - floor) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def adamw(model: torch.nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW with the official MAE betas; no weight decay on biases, norms, and tokens (1-D or [1, 1, D])."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim <= 1 or name.endswith("token") else decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95))


def composite(model: MaskedAutoencoderViT, imgs: torch.Tensor, pred: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Visible pixels of ``imgs`` with the prediction pasted into the removed patches; [N, 3, H, W] normalised."""
    p = model.config.patch_size
    grid = model.config.grid_size
    recon = unpatchify(pred.float(), p, (grid, grid), model.config.in_chans)
    pixel_mask = mask.view(-1, grid, 1, grid, 1).expand(-1, -1, p, -1, p).reshape(-1, 1, grid * p, grid * p)
    return imgs * (1.0 - pixel_mask) + recon * pixel_mask


def save_weights(model: MaskedAutoencoderViT, path: Path, *, loss_type: str, dtype: torch.dtype | None = None) -> None:
    """Write a project safetensors file: official names, metadata {"format": "mae_core", "mae_config", "loss_type"}."""
    save_checkpoint(model, path, loss_type=loss_type, dtype=dtype)


def load_weights(path: Path) -> MaskedAutoencoderViT:
    """A project safetensors file -> float32 model in eval mode, loaded strictly by ``mae_core.loading``."""
    return load_model(path, offline=True)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -------------------------------------------------------------------------------------------------- evaluation
def heldout_scores(
    model: MaskedAutoencoderViT, images: list[Image.Image], seeds: list[int], mask_ratio: float = 0.75
) -> HeldoutScores:
    """Masked-patch MSE, mean-colour baseline MSE, and texture energy; images resized (bicubic) to the model size."""
    size = model.config.img_size
    p, grid = model.config.patch_size, model.config.grid_size
    units = torch.stack(
        [
            torch.from_numpy(np.asarray(im.convert("RGB").resize((size, size), Image.Resampling.BICUBIC)).copy())
            .permute(2, 0, 1)
            .float()
            / 255.0
            for im in images
        ]
    )  # [I, 3, S, S]
    mses, fills, grads = [], [], []
    for seed in seeds:
        noise = mask_noise(seed, model.num_patches).expand(len(images), -1)  # one mask per seed, as the app's
        with torch.no_grad():
            out = model(normalize(units), mask_ratio, noise)
        recon = to_unit(unpatchify(out.pred.float(), p, (grid, grid), 3))  # [I, 3, S, S]
        pixel_mask = out.mask.view(-1, grid, 1, grid, 1).expand(-1, -1, p, -1, p).reshape(-1, 1, size, size)
        removed = pixel_mask.sum(dim=(1, 2, 3)) * 3  # values per image in the removed region
        mses.append((((recon - units) ** 2) * pixel_mask).sum(dim=(1, 2, 3)) / removed)
        visible_mean = (units * (1 - pixel_mask)).sum(dim=(2, 3), keepdim=True) / (1 - pixel_mask).sum(
            dim=(2, 3), keepdim=True
        )  # [I, 3, 1, 1]
        fills.append((((visible_mean - units) ** 2) * pixel_mask).sum(dim=(1, 2, 3)) / removed)
        pasted = units * (1 - pixel_mask) + recon * pixel_mask
        dy = (pasted[:, :, 1:, :] - pasted[:, :, :-1, :]).abs()
        dx = (pasted[:, :, :, 1:] - pasted[:, :, :, :-1]).abs()
        # only differences between two removed pixels, so the seams with visible patches do not count
        my = pixel_mask[:, :, 1:, :] * pixel_mask[:, :, :-1, :]
        mx = pixel_mask[:, :, :, 1:] * pixel_mask[:, :, :, :-1]
        pairs = 3 * (my.sum(dim=(1, 2, 3)) + mx.sum(dim=(1, 2, 3)))  # [I] differences counted per image
        grads.append(((dy * my).sum(dim=(1, 2, 3)) + (dx * mx).sum(dim=(1, 2, 3))) / pairs)
    return HeldoutScores(
        mse=torch.cat(mses).mean().item(),
        mean_fill_mse=torch.cat(fills).mean().item(),
        gradient=torch.cat(grads).mean().item(),
    )


def example_images(folder: Path = EXAMPLES_DIR) -> list[Image.Image]:
    """The app's example photos (never used in training): the held-out set."""
    paths = sorted(p for p in folder.glob("*.jpg"))
    images = []
    for path in paths:
        with Image.open(path) as img:
            images.append(img.convert("RGB"))
    return images


# ---------------------------------------------------------------------------------------------------- training
def _save_state(path: Path, state: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # atomic: an interrupted save leaves the previous checkpoint intact


def _write_history(out_dir: Path, history: list[dict]) -> None:
    columns = ["phase", "step", "lr", "pixel_loss", "g_adv", "d_loss", "seconds"]
    with open(out_dir / "losses.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(history)


def plot_curve(history: list[dict], path: Path) -> Path:
    """PNG of the pixel loss (raw and smoothed) over both phases, and the adversarial losses of the GAN phase."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = np.arange(len(history))
    pixel = np.array([row["pixel_loss"] for row in history])
    window = max(1, len(pixel) // 50)
    smooth = np.convolve(pixel, np.ones(window) / window, mode="valid")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    axes[0].plot(steps, pixel, alpha=0.3, label="pixel loss (per step)")
    axes[0].plot(steps[window - 1 :], smooth, label=f"pixel loss (mean of {window})")
    gan_start = next((i for i, row in enumerate(history) if row["phase"] == "gan"), None)
    if gan_start is not None:
        axes[0].axvline(gan_start, color="k", linestyle="--", linewidth=1, label="GAN fine-tuning starts")
        gan = [row for row in history if row["phase"] == "gan"]
        axes[1].plot([row["step"] for row in gan], [row["g_adv"] for row in gan], label="generator hinge loss")
        axes[1].plot([row["step"] for row in gan], [row["d_loss"] for row in gan], label="discriminator hinge loss")
        axes[1].legend()
    axes[1].set_title("adversarial losses (GAN phase)")
    axes[1].set_xlabel("GAN step")
    axes[0].set_yscale("log")
    axes[0].set_xlabel("step (pixel phase, then GAN phase)")
    axes[0].set_title("masked-patch loss (ImageNet-normalised pixels)")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def train(config: TrainConfig, out_dir: Path, *, restart: bool = False, progress: bool = True) -> TrainResult:
    """Run (or resume) both phases; write safetensors, ``losses.csv`` and ``loss_curve.png`` under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = out_dir / CHECKPOINT_NAME
    started = time.perf_counter()
    photos = load_photos(TRAIN_IMAGES, config.max_side)
    model_config = config.model_config
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.bf16)

    model = seeded_init(config.seed, lambda: MaskedAutoencoderViT(model_config))
    disc = seeded_init(config.seed + 1, lambda: PatchDiscriminator(model_config.in_chans, config.disc_width))
    opt = adamw(model, config.lr, config.weight_decay)
    disc_opt = torch.optim.AdamW(disc.parameters(), lr=config.disc_lr, betas=(0.5, 0.9), weight_decay=0.0)
    rng = np.random.default_rng(config.seed)  # crops and flips
    mask_gen = torch.Generator().manual_seed(config.seed)  # mask noise
    phase, step, history, elapsed = "pixel", 0, [], 0.0

    if ckpt_path.exists() and not restart:
        state = torch.load(ckpt_path, weights_only=False)
        phase, step, history, elapsed = state["phase"], state["step"], state["history"], state["seconds"]
        # GAN settings may change until the GAN phase has taken a step: this reruns only the fine-tuning
        checked = [k for k in config.to_dict() if k not in GAN_FIELDS or (phase == "gan" and step > 0)]
        changed = {
            k: (state["config"].get(k), config.to_dict()[k])
            for k in checked
            if state["config"].get(k) != config.to_dict()[k]
        }
        if changed:
            raise ValueError(
                f"{ckpt_path} was written with other settings (old, new): {changed}; "
                "rerun with the same flags, or pass --restart"
            )
        if phase == "gan":
            opt = adamw(model, config.gan_lr, 0.0)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        if phase == "gan" and step > 0:
            disc.load_state_dict(state["disc"])
            disc_opt.load_state_dict(state["disc_opt"])
        rng.bit_generator.state = state["rng"]
        mask_gen.set_state(state["mask_gen"])
    pixel_path, gan_path = out_dir / "tiny-pixel.safetensors", out_dir / "tiny-gan.safetensors"

    def checkpoint() -> None:
        _save_state(
            ckpt_path,
            {
                "config": config.to_dict(),
                "phase": phase,
                "step": step,
                "history": history,
                "seconds": elapsed + time.perf_counter() - started,
                "model": model.state_dict(),
                "opt": opt.state_dict(),
                "disc": disc.state_dict(),
                "disc_opt": disc_opt.state_dict(),
                "rng": rng.bit_generator.state,
                "mask_gen": mask_gen.get_state(),
            },
        )
        _write_history(out_dir, history)

    total = config.steps + config.gan_steps
    done = step + (config.steps if phase == "gan" else 0)
    bar = tqdm(
        total=total,
        initial=done,
        disable=not progress,
        desc="train",
        unit="step",
        dynamic_ncols=True,
        mininterval=1.0 if sys.stderr.isatty() else 30.0,
    )
    num_patches = model_config.num_patches

    model.train()
    while phase == "pixel" and step < config.steps:
        lr = lr_at(step, config.steps, config.lr, config.min_lr, config.warmup_steps)
        for group in opt.param_groups:
            group["lr"] = lr
        imgs = sample_batch(photos, config.batch_size, config.img_size, config.crop_scale, rng)
        noise = torch.rand(config.batch_size, num_patches, generator=mask_gen)
        with autocast:
            loss = model(imgs, config.mask_ratio, noise).loss.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        history.append(
            dict(
                phase="pixel",
                step=step,
                lr=lr,
                pixel_loss=loss.item(),
                g_adv=0.0,
                d_loss=0.0,
                seconds=round(elapsed + time.perf_counter() - started, 2),
            )
        )
        bar.update(1)
        bar.set_postfix(phase="pixel", loss=f"{loss.item():.4f}", refresh=False)
        if step % config.checkpoint_every == 0 or step == config.steps:
            checkpoint()

    if phase == "pixel":
        save_weights(model, pixel_path, loss_type="pixel")
        phase, step = "gan", 0
        # the GAN phase is a fine-tuning: fresh optimiser at a small constant learning rate, no weight decay
        opt = adamw(model, config.gan_lr, 0.0)
        checkpoint()
        shutil.copyfile(ckpt_path, out_dir / PIXEL_DONE_NAME)

    disc.train()
    while step < config.gan_steps:
        imgs = sample_batch(photos, config.batch_size, config.img_size, config.crop_scale, rng)
        noise = torch.rand(config.batch_size, num_patches, generator=mask_gen)
        with autocast:
            out = model(imgs, config.mask_ratio, noise)
            fake = composite(model, imgs, out.pred, out.mask)
            # discriminator step on detached reconstructions
            d_loss = discriminator_loss(disc(imgs).float(), disc(fake.detach()).float())
        disc_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        disc_opt.step()
        with autocast:
            g_adv = generator_loss(disc(fake).float())
        pixel_loss = out.loss.mean()
        g_loss = pixel_loss + config.gan_weight * g_adv
        opt.zero_grad(set_to_none=True)
        g_loss.backward()
        opt.step()
        step += 1
        history.append(
            dict(
                phase="gan",
                step=step,
                lr=config.gan_lr,
                pixel_loss=pixel_loss.item(),
                g_adv=g_adv.item(),
                d_loss=d_loss.item(),
                seconds=round(elapsed + time.perf_counter() - started, 2),
            )
        )
        bar.update(1)
        bar.set_postfix(phase="gan", loss=f"{pixel_loss.item():.4f}", d=f"{d_loss.item():.3f}", refresh=False)
        if step % config.checkpoint_every == 0 or step == config.gan_steps:
            checkpoint()
    bar.close()

    if config.gan_steps:
        save_weights(model, gan_path, loss_type="gan")
    curve = plot_curve(history, out_dir / "loss_curve.png")
    seconds = elapsed + time.perf_counter() - started
    return TrainResult(pixel_path, gan_path if config.gan_steps else None, curve, history, seconds)


def export(result: TrainResult, dest: Path) -> list[Path]:
    """Write the final float16 pair and ``SHA256SUMS`` (``sha256sum`` format, names relative) into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for source, name, loss_type in ((result.pixel_path, "tiny-pixel", "pixel"), (result.gan_path, "tiny-gan", "gan")):
        if source is None:
            continue
        target = dest / f"{name}.safetensors"
        save_weights(load_weights(source), target, loss_type=loss_type, dtype=torch.float16)
        written.append(target)
    (dest / "SHA256SUMS").write_text("".join(f"{sha256(p)}  {p.name}\n" for p in sorted(written)))
    return written


# ---------------------------------------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    defaults = TrainConfig()
    parser = argparse.ArgumentParser(
        prog="python -m experiments.train",
        description="Train the bundled tiny-pixel / tiny-gan MAE pair from scratch on packaged photos (CPU).",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO_ROOT / "build" / "train",
        help="run folder (checkpoints, losses.csv, loss_curve.png); an existing checkpoint there is resumed",
    )
    parser.add_argument("--export", type=Path, default=None, help="also write the float16 pair + SHA256SUMS here")
    parser.add_argument("--restart", action="store_true", help="ignore an existing checkpoint in --out")
    parser.add_argument("--steps", type=int, default=defaults.steps, help="pixel-loss steps")
    parser.add_argument("--gan-steps", type=int, default=defaults.gan_steps, help="adversarial fine-tuning steps")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--img-size", type=int, default=defaults.img_size, help="multiple of 16 (smoke: 64)")
    parser.add_argument("--lr", type=float, default=defaults.lr, help="peak learning rate of the pixel phase")
    parser.add_argument("--warmup-steps", type=int, default=defaults.warmup_steps)
    parser.add_argument("--gan-lr", type=float, default=defaults.gan_lr)
    parser.add_argument("--disc-lr", type=float, default=defaults.disc_lr)
    parser.add_argument(
        "--gan-weight",
        type=float,
        default=defaults.gan_weight,
        help="weight of the adversarial loss (pixel loss has weight 1)",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--checkpoint-every", type=int, default=defaults.checkpoint_every)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--no-bf16", action="store_true", help="train in float32 instead of bfloat16 autocast")
    parser.add_argument("--no-progress", action="store_true", help="hide the tqdm bar")
    return parser


def cli(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    names = {f.name for f in fields(TrainConfig)}
    values = {k: v for k, v in vars(args).items() if k in names}
    try:
        config = TrainConfig(**values, bf16=not args.no_bf16)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    result = train(config, args.out, restart=args.restart, progress=not args.no_progress)
    print(f"trained {len(result.history)} steps in {result.seconds / 60:.1f} min; curve {result.curve_path}")
    images = example_images()
    if images:
        for path in (result.pixel_path, result.gan_path):
            if path is not None:
                scores = heldout_scores(load_weights(path), images, list(range(5)), config.mask_ratio)
                print(f"held-out {path.stem}: {json.dumps(asdict(scores))}")
    if args.export is not None:
        for path in export(result, args.export):
            print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(cli())
