"""What attention maps cost: ``reconstruct`` with and without ``attentions=True``, beside the engine's packed path.

Random ViT-sized weights (base by default), one 224 px image, ratio 0.75, interleaved rounds in ONE process, each
path's best round kept (machine load moves absolute times). Without ``attentions`` no hook exists on the model
(checked after every round), so ``reconstruct`` and the packed engine (``evaluate``, whose ``packed.py`` never calls
the attention code) run exactly as before; the price of asking is the eager ``softmax(q k^T)`` per block, beside the
fused pass.

    .venv/bin/python benchmarks/bench_attention.py                 # ViT-B, 5 rounds (about 1 min, 2-core CPU)
    .venv/bin/python benchmarks/bench_attention.py --arch mae_vit_large_patch16 --rounds 3
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from benchmarks.bench_engine import smooth_image  # noqa: E402
from benchmarks.measure import cpu_name, timed  # noqa: E402
from mae_core.evaluation.engine import evaluate  # noqa: E402
from mae_core.evaluation.reconstruct import reconstruct  # noqa: E402
from mae_core.modeling.model import PRESETS, build_model  # noqa: E402


def hooks_left(model: torch.nn.Module) -> int:
    """Forward hooks of any kind still registered anywhere in ``model`` (must be 0 outside ``attentions=True``)."""
    return sum(len(m._forward_pre_hooks) + len(m._forward_hooks) for m in model.modules())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="mae_vit_base_patch16", choices=sorted(PRESETS))
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    model = build_model(args.arch).eval()
    image = smooth_image()
    paths = {
        "reconstruct": lambda: reconstruct(model, image, 0.75, 0, metrics=[]),
        "reconstruct, attentions=True": lambda: reconstruct(model, image, 0.75, 0, metrics=[], attentions=True),
        "evaluate (packed), fp32": lambda: evaluate({"model": model}, [image], [0.75], [0], metrics=[]),
    }
    best = dict.fromkeys(paths, float("inf"))
    for _ in range(args.rounds):
        for name, run in paths.items():
            _, seconds, _ = timed(run)
            best[name] = min(best[name], seconds)
            if hooks_left(model):
                raise SystemExit(f"{name} left {hooks_left(model)} hooks on the model")
    threads = torch.get_num_threads()
    print(f"{args.arch}, 224 px, ratio 0.75, best of {args.rounds} rounds, {threads} threads, {cpu_name()}")
    base = best["reconstruct"]
    for name, seconds in best.items():
        print(f"  {name:32s} {seconds * 1000:8.1f} ms  ({seconds / base:.2f}x reconstruct)")
    print("  hooks on the model after every round: 0")


if __name__ == "__main__":
    main()
