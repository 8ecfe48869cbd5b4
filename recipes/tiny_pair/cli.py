"""``python -m recipes.tiny_pair``: train (or resume) the pair, print held-out scores, optionally export it.

Exit codes: 0 done, 2 bad flags or a resume with changed settings (one line on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, fields
from pathlib import Path

import torch

from mae_core.checkpoints.loading import load_model
from recipes.tiny_pair.config import TrainConfig
from recipes.tiny_pair.export import export
from recipes.tiny_pair.heldout import example_images, heldout_scores
from recipes.tiny_pair.trainer import TrainResult, train

PROG = "python -m recipes.tiny_pair"
REPO_ROOT = Path(__file__).resolve().parents[2]
EXIT_OK, EXIT_USAGE = 0, 2
HELDOUT_SEEDS = list(range(5))


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own prints the usage block; one line is enough
        print(f"error: {self.prog}: {message} (see --help)", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    defaults = TrainConfig()
    parser = _Parser(
        prog=PROG,
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
    parser.add_argument(
        "--pixel-weights",
        default=None,
        metavar="FILE",
        help="skip the pixel phase: fine-tune this pixel model (e.g. mae_core/bundled/tiny-pixel.safetensors)",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--checkpoint-every", type=int, default=defaults.checkpoint_every)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--no-bf16", action="store_true", help="train in float32 instead of bfloat16 autocast")
    parser.add_argument("--no-progress", action="store_true", help="hide the tqdm bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    names = {f.name for f in fields(TrainConfig)}
    try:
        config = TrainConfig(**{k: v for k, v in vars(args).items() if k in names}, bf16=not args.no_bf16)
        torch.set_num_threads(args.threads)
        result = train(config, args.out, restart=args.restart, progress=not args.no_progress)
    except ValueError as err:  # bad settings, or a resume with settings other than the checkpoint's
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    print(f"trained {len(result.history)} steps in {result.seconds / 60:.1f} min; curve {result.curve_path}")
    _print_heldout(result, config.mask_ratio)
    if args.export is not None:
        for path in export(result, args.export):
            print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return EXIT_OK


def _print_heldout(result: TrainResult, mask_ratio: float) -> None:
    images = example_images()
    if not images:
        return
    for path in (result.pixel_path, result.gan_path):
        if path is not None:
            scores = heldout_scores(load_model(path, offline=True), images, HELDOUT_SEEDS, mask_ratio)
            print(f"held-out {path.stem}: {json.dumps(asdict(scores))}")
