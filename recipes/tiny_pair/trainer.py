"""One training run of the tiny pair as a state object: a pixel phase, then adversarial fine-tuning, resumable.

:class:`Trainer` holds everything a step changes (models, optimisers, random generators, phase, step, history) and
has one method per step; :func:`train` builds one, resumes it from ``checkpoint.pt`` if present, and runs it.
"""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from mae_core.checkpoints.checkpoint_files import save_checkpoint
from mae_core.checkpoints.loading import load_model
from mae_core.files import atomic_output
from mae_core.modeling.model import MAEOutput, MaskedAutoencoderViT
from recipes.tiny_pair.config import TrainConfig
from recipes.tiny_pair.data import TRAIN_IMAGES, load_photos, sample_batch
from recipes.tiny_pair.discriminator import PatchDiscriminator, discriminator_loss, generator_loss
from recipes.tiny_pair.history import HistoryRow, Phase, plot_curve, write_history
from recipes.tiny_pair.optim import adamw, lr_at, seeded_init, set_lr
from recipes.tiny_pair.pixels import composite

CHECKPOINT_NAME = "checkpoint.pt"
PIXEL_DONE_NAME = "checkpoint-pixel-done.pt"  # a copy taken when the pixel phase ends (rerun only the GAN phase)
PIXEL_WEIGHTS, GAN_WEIGHTS = "tiny-pixel.safetensors", "tiny-gan.safetensors"
HISTORY_NAME, CURVE_NAME = "losses.csv", "loss_curve.png"


@dataclass(frozen=True)
class TrainResult:
    """Paths a finished run wrote, and its loss history (one row per step)."""

    pixel_path: Path  # float32 safetensors of the pixel-loss model
    gan_path: Path | None  # float32 safetensors of the GAN-loss model (None when gan_steps == 0)
    curve_path: Path  # PNG loss curve
    history: tuple[HistoryRow, ...]
    seconds: float
    pixel_trained: bool = True  # False: the pixel model is a byte copy of ``TrainConfig.pixel_weights``


@dataclass(eq=False)
class Trainer:
    """The state of one run. Same seed, same thread count -> same losses, also across a resume."""

    config: TrainConfig
    out_dir: Path
    photos: list[torch.Tensor]  # uint8 [3, H, W] each
    model: MaskedAutoencoderViT
    disc: PatchDiscriminator
    opt: torch.optim.AdamW
    disc_opt: torch.optim.AdamW
    rng: np.random.Generator  # crops and flips
    mask_gen: torch.Generator  # mask noise
    started: float  # time.perf_counter() when this session started
    phase: Phase = "pixel"
    step: int = 0  # steps taken in the current phase
    history: list[HistoryRow] = field(default_factory=list)
    elapsed: float = 0.0  # seconds spent by earlier sessions of this run

    @classmethod
    def new(cls, config: TrainConfig, out_dir: Path) -> Trainer:
        """A fresh run: weights drawn from ``config.seed`` (discriminator: seed + 1), step 0 of the pixel phase."""
        started = time.perf_counter()
        model_config = config.model_config
        model = seeded_init(config.seed, lambda: MaskedAutoencoderViT(model_config))
        disc = seeded_init(config.seed + 1, lambda: PatchDiscriminator(model_config.in_chans, config.disc_width))
        return cls(
            config=config,
            out_dir=out_dir,
            photos=load_photos(TRAIN_IMAGES, config.max_side),
            model=model,
            disc=disc,
            opt=adamw(model, config.lr, config.weight_decay),
            disc_opt=torch.optim.AdamW(disc.parameters(), lr=config.disc_lr, betas=(0.5, 0.9), weight_decay=0.0),
            rng=np.random.default_rng(config.seed),
            mask_gen=torch.Generator().manual_seed(config.seed),
            started=started,
        )

    def restore(self, path: Path) -> None:
        """Continue from a state written by :meth:`save_state`; refuses one written with other settings."""
        state = torch.load(path, weights_only=True)
        gan_started = state["phase"] == "gan" and state["step"] > 0
        self.config.check_resumable(state["config"], gan_started=gan_started, source=path)
        self.phase, self.step, self.elapsed = state["phase"], state["step"], state["seconds"]
        self.history = [HistoryRow.from_dict(row) for row in state["history"]]
        if self.phase == "gan":
            self.opt = adamw(self.model, self.config.gan_lr, 0.0)
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        if gan_started:
            self.disc.load_state_dict(state["disc"])
            self.disc_opt.load_state_dict(state["disc_opt"])
        self.rng.bit_generator.state = state["rng"]
        self.mask_gen.set_state(state["mask_gen"])

    def seconds(self) -> float:
        return self.elapsed + time.perf_counter() - self.started

    def run(self, progress: bool = True) -> None:
        """Take the remaining steps of both phases, saving the state every ``checkpoint_every`` steps of a phase."""
        config = self.config
        done = self.step + (config.steps if self.phase == "gan" else 0)
        bar = _progress_bar(config.steps + config.gan_steps, done, enabled=progress)
        self.model.train()
        while self.phase == "pixel" and self.step < config.steps:
            self._after_step(self.pixel_step(), config.steps, bar)
        if self.phase == "pixel":
            self.start_gan_phase()
        self.disc.train()
        while self.step < config.gan_steps:
            self._after_step(self.gan_step(), config.gan_steps, bar)
        bar.close()

    def pixel_step(self) -> HistoryRow:
        """One AdamW step on the model's own loss, at the scheduled learning rate."""
        config = self.config
        lr = lr_at(self.step, config.steps, config.lr, config.min_lr, config.warmup_steps)
        set_lr(self.opt, lr)
        imgs, noise = self._batch()
        with self._autocast():
            loss = self.model(imgs, config.mask_ratio, noise).loss.mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return self._record(lr, loss.item(), g_adv=0.0, d_loss=0.0)

    def start_gan_phase(self) -> None:
        """Write the pixel model, switch to fine-tuning, and keep a copy of the state at this point."""
        save_checkpoint(self.model, self.out_dir / PIXEL_WEIGHTS, loss_type="pixel")
        self.phase, self.step = "gan", 0
        # the GAN phase is a fine-tuning: fresh optimiser at a small constant learning rate, no weight decay
        self.opt = adamw(self.model, self.config.gan_lr, 0.0)
        self.save_state()
        with atomic_output(self.out_dir / PIXEL_DONE_NAME) as staging:
            shutil.copyfile(self.out_dir / CHECKPOINT_NAME, staging)

    def start_from_pixel_model(self, path: Path) -> None:
        """Skip the pixel phase: fine-tune the pixel model in ``path`` (loaded strictly; float16 files are upcast),
        keeping a byte copy of it as this run's pixel model."""
        pixel = load_model(path, offline=True)
        if pixel.config != self.model.config:
            raise ValueError(f"{path} is a {pixel.config} model; this run trains {self.model.config}")
        self.model.load_state_dict(pixel.state_dict())
        with atomic_output(self.out_dir / PIXEL_WEIGHTS) as staging:
            shutil.copyfile(path, staging)
        self.phase, self.step = "gan", 0
        self.opt = adamw(self.model, self.config.gan_lr, 0.0)
        self.save_state()

    def gan_step(self) -> HistoryRow:
        """One discriminator step on detached composites, then one generator step on pixel + adversarial loss."""
        config = self.config
        imgs, noise = self._batch()
        with self._autocast():
            out = self.model(imgs, config.mask_ratio, noise)
            fake = composite(self.model, imgs, out.pred, out.mask)
        d_loss = self.discriminator_step(imgs, fake.detach())
        pixel_loss, g_adv = self.generator_step(out, fake)
        return self._record(config.gan_lr, pixel_loss, g_adv=g_adv, d_loss=d_loss)

    def discriminator_step(self, real: torch.Tensor, fake: torch.Tensor) -> float:
        """Hinge-loss update of the discriminator: ``real`` images against detached ``fake`` composites."""
        with self._autocast():
            loss = discriminator_loss(self.disc(real).float(), self.disc(fake).float())
        self.disc_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.disc_opt.step()
        return loss.item()

    def generator_step(self, out: MAEOutput, fake: torch.Tensor) -> tuple[float, float]:
        """Update of the model on ``pixel_loss + gan_weight * hinge_generator_loss``; returns both parts."""
        with self._autocast():
            g_adv = generator_loss(self.disc(fake).float())
        pixel_loss = out.loss.mean()
        loss = pixel_loss + self.config.gan_weight * g_adv
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return pixel_loss.item(), g_adv.item()

    def save_state(self) -> None:
        """Replace ``checkpoint.pt`` atomically (an interrupted save keeps the previous one) and ``losses.csv``."""
        state = {
            "config": self.config.to_dict(),
            "phase": self.phase,
            "step": self.step,
            "history": [asdict(row) for row in self.history],
            "seconds": self.seconds(),
            "model": self.model.state_dict(),
            "opt": self.opt.state_dict(),
            "disc": self.disc.state_dict(),
            "disc_opt": self.disc_opt.state_dict(),
            "rng": self.rng.bit_generator.state,
            "mask_gen": self.mask_gen.get_state(),
        }
        with atomic_output(self.out_dir / CHECKPOINT_NAME) as staging:
            torch.save(state, staging)
        self.write_history()

    def write_history(self) -> None:
        write_history(self.out_dir / HISTORY_NAME, self.history)

    def finish(self) -> TrainResult:
        """Write the GAN model (if any) and the loss curve."""
        gan_path = None
        if self.config.gan_steps:
            gan_path = save_checkpoint(self.model, self.out_dir / GAN_WEIGHTS, loss_type="gan")
        curve = plot_curve(self.history, self.out_dir / CURVE_NAME)
        pixel_trained = self.config.pixel_weights is None
        return TrainResult(
            self.out_dir / PIXEL_WEIGHTS, gan_path, curve, tuple(self.history), self.seconds(), pixel_trained
        )

    def _batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised crops [B, 3, S, S] and mask noise [B, L], in this order from the two generators."""
        config = self.config
        imgs = sample_batch(self.photos, config.batch_size, config.img_size, config.crop_scale, self.rng)
        noise = torch.rand(config.batch_size, self.model.num_patches, generator=self.mask_gen)
        return imgs, noise

    def _autocast(self) -> torch.autocast:
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.config.bf16)

    def _record(self, lr: float, pixel_loss: float, *, g_adv: float, d_loss: float) -> HistoryRow:
        self.step += 1
        row = HistoryRow(self.phase, self.step, lr, pixel_loss, g_adv, d_loss, round(self.seconds(), 2))
        self.history.append(row)
        return row

    def _after_step(self, row: HistoryRow, phase_steps: int, bar: tqdm) -> None:
        bar.update(1)
        extra = {"d": f"{row.d_loss:.3f}"} if row.phase == "gan" else {}
        bar.set_postfix(phase=row.phase, loss=f"{row.pixel_loss:.4f}", **extra, refresh=False)
        if row.step % self.config.checkpoint_every == 0 or row.step == phase_steps:
            self.save_state()


def _progress_bar(total: int, done: int, *, enabled: bool) -> tqdm:
    interval = 1.0 if sys.stderr.isatty() else 30.0
    return tqdm(
        total=total,
        initial=done,
        disable=not enabled,
        desc="train",
        unit="step",
        dynamic_ncols=True,
        mininterval=interval,
    )


def train(config: TrainConfig, out_dir: Path, *, restart: bool = False, progress: bool = True) -> TrainResult:
    """Run (or resume) both phases; write safetensors, ``losses.csv`` and ``loss_curve.png`` under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    trainer = Trainer.new(config, out_dir)
    if (out_dir / CHECKPOINT_NAME).exists() and not restart:
        trainer.restore(out_dir / CHECKPOINT_NAME)
    elif config.pixel_weights is not None:
        trainer.start_from_pixel_model(Path(config.pixel_weights))
    trainer.run(progress)
    return trainer.finish()
