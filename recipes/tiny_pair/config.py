"""What determines a run of the tiny-pair recipe: the model's shape and the training settings, as frozen data."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from mae_core.modeling.model import MAEConfig

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

# settings that only the GAN phase reads: they may change on resume until the GAN phase has taken a step
GAN_FIELDS = frozenset({"gan_steps", "gan_lr", "disc_lr", "gan_weight", "disc_width"})


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a run; stored in the checkpoint so a resume cannot silently change it."""

    steps: int = 2400  # pixel-loss phase
    gan_steps: int = 100  # adversarial fine-tuning phase (tiny-gan: 100 at weight 0.1 gives detail about 1)
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
    pixel_weights: str | None = None  # a pixel-model file: skip the pixel phase and fine-tune this model instead

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

    def check_resumable(self, saved: dict, *, gan_started: bool, source: object) -> None:
        """Raise ``ValueError`` naming each setting that differs from ``saved``, the ``to_dict()`` stored in ``source``.

        The GAN settings may differ until the GAN phase has taken a step, so a copy of the state at the end of the
        pixel phase reruns only the fine-tuning."""
        current = self.to_dict()
        checked = [k for k in current if k not in GAN_FIELDS or gan_started]
        changed = {k: (saved.get(k), current[k]) for k in checked if saved.get(k) != current[k]}
        if changed:
            raise ValueError(
                f"{source} was written with other settings (old, new): {changed}; "
                "rerun with the same flags, or pass --restart"
            )
