"""The recipe that trains the bundled ``tiny-pixel`` / ``tiny-gan`` pair from scratch, on a 2-core CPU.

Two phases, mirroring the official visualisation checkpoints:

1. ``pixel``: a small :class:`~mae_core.modeling.model.MaskedAutoencoderViT` learns the model's own loss (MSE on
   the removed patches, in ImageNet-normalised pixels; mask ratio 0.75), AdamW with linear warm-up and cosine decay.
2. ``gan``: the result is fine-tuned with ``pixel loss + gan_weight * adversarial loss`` against a small patch
   discriminator (``discriminator``), which judges the image with the reconstruction pasted into the removed patches.

Modules: ``config`` (what determines a run), ``data`` (packaged photos, seeded crops), ``pixels`` (the composite
image), ``optim`` (initialisation, schedule, AdamW groups), ``discriminator``, ``history`` (loss rows, CSV,
curve), ``trainer`` (the run as a state object), ``export`` (the float16 bundled form), ``heldout`` (scores on
``examples/``), ``cli``. Randomness: crops and flips from a ``numpy`` Generator, masks from a ``torch.Generator``,
weights under a forked, seeded global RNG. Same seed, same thread count -> same losses; a checkpoint every
``--checkpoint-every`` steps makes the run resumable (rerun the same command).

    python -m recipes.tiny_pair --out build/train --export mae_core/bundled       # the bundled pair (~30 min)
    python -m recipes.tiny_pair --out /tmp/smoke --steps 3 --gan-steps 2 --img-size 64 --batch-size 4   # seconds
"""

from recipes.tiny_pair.config import TINY_CONFIG, TrainConfig
from recipes.tiny_pair.export import export
from recipes.tiny_pair.heldout import HeldoutScores, example_images, heldout_scores
from recipes.tiny_pair.history import HistoryRow
from recipes.tiny_pair.trainer import Trainer, TrainResult, train

__all__ = [
    "TINY_CONFIG",
    "HeldoutScores",
    "HistoryRow",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "example_images",
    "export",
    "heldout_scores",
    "train",
]
