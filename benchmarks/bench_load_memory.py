"""Peak memory of ``load_model`` on ViT-L-sized checkpoints, each case in a fresh process.

Writes random ViT-L/16 weights (329.5 M parameters, 1.32 GB in fp32) in the official format (``{"model": sd}``
.pth) and in transformers' Hub format (``pytorch_model.bin`` and ``model.safetensors`` + ``config.json``, legacy
names), then for each case starts a new interpreter that imports the engine, loads, touches every weight (so
memory-mapped weights count as resident) and reports ``resource.getrusage`` peak RSS. The baseline is the peak after
importing the engine, before loading. The parent stays small (files are written by a child too) because Linux
carries a process's peak RSS across fork and exec into ``ru_maxrss``.

    .venv/bin/python benchmarks/bench_load_memory.py [--dir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GB = 1e9

# (label, files to load, dtype)
CASES = [
    ("official .pth, fp32", ["official/mae_visualize_vit_large.pth"], "float32"),
    ("official .pth, bf16", ["official/mae_visualize_vit_large.pth"], "bfloat16"),
    ("transformers pytorch_model.bin, fp32", ["hf-bin"], "float32"),
    ("transformers model.safetensors, fp32", ["hf-st"], "float32"),
    ("transformers model.safetensors, bf16", ["hf-st"], "bfloat16"),
    (
        "both ViT-L .pth (pixel + GAN), fp32",
        ["official/mae_visualize_vit_large.pth", "official/mae_visualize_vit_large_ganloss.pth"],
        "float32",
    ),
    (
        "both ViT-L .pth (pixel + GAN), bf16",
        ["official/mae_visualize_vit_large.pth", "official/mae_visualize_vit_large_ganloss.pth"],
        "bfloat16",
    ),
]


def write_files(root: Path) -> None:
    """Random ViT-L weights in both formats under ``root`` (skipped when already there)."""
    import torch
    from safetensors.torch import save_file

    from mae_core.modeling.model import PRESETS, MaskedAutoencoderViT

    if (root / "hf-st" / "model.safetensors").is_file():
        return
    config = PRESETS["mae_vit_large_patch16"]
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in MaskedAutoencoderViT(config).state_dict().items()}
    generator = torch.Generator().manual_seed(0)
    state = {k: torch.randn(s, generator=generator) * 0.02 for k, s in shapes.items()}
    (root / "official").mkdir(parents=True, exist_ok=True)
    for name in ("mae_visualize_vit_large.pth", "mae_visualize_vit_large_ganloss.pth"):
        torch.save({"model": state}, root / "official" / name)
    hf = to_transformers_names(state)
    hf_config = {
        "model_type": "vit_mae",
        "architectures": ["ViTMAEForPreTraining"],
        "hidden_size": 1024,
        "num_hidden_layers": 24,
        "num_attention_heads": 16,
        "intermediate_size": 4096,
        "decoder_hidden_size": 512,
        "decoder_num_hidden_layers": 8,
        "decoder_num_attention_heads": 16,
        "decoder_intermediate_size": 2048,
        "image_size": 224,
        "patch_size": 16,
        "norm_pix_loss": False,
        "mask_ratio": 0.75,
        "layer_norm_eps": 1e-12,
    }
    for folder in ("hf-bin", "hf-st"):
        (root / folder).mkdir(exist_ok=True)
        (root / folder / "config.json").write_text(json.dumps(hf_config))
    torch.save(hf, root / "hf-bin" / "pytorch_model.bin")
    save_file(hf, str(root / "hf-st" / "model.safetensors"))


def to_transformers_names(state: dict) -> dict:
    """Official -> the Hub files' legacy transformers names (qkv split in thirds), for the benchmark's input only."""
    inner = {
        "norm1": "layernorm_before",
        "norm2": "layernorm_after",
        "attn.proj": "attention.output.dense",
        "mlp.fc1": "intermediate.dense",
        "mlp.fc2": "output.dense",
    }
    top = {
        "cls_token": "vit.embeddings.cls_token",
        "pos_embed": "vit.embeddings.position_embeddings",
        "patch_embed.proj.weight": "vit.embeddings.patch_embeddings.projection.weight",
        "patch_embed.proj.bias": "vit.embeddings.patch_embeddings.projection.bias",
        "norm.weight": "vit.layernorm.weight",
        "norm.bias": "vit.layernorm.bias",
    }
    out = {}
    for name, tensor in state.items():
        if name in top:
            out[top[name]] = tensor
            continue
        if name.startswith(("blocks.", "decoder_blocks.")):
            group, index, rest = name.split(".", 2)
            prefix = f"vit.encoder.layer.{index}." if group == "blocks" else f"decoder.decoder_layers.{index}."
            part, kind = rest.rsplit(".", 1)
            if part == "attn.qkv":
                for piece, which in zip(tensor.chunk(3), ("query", "key", "value")):
                    out[f"{prefix}attention.attention.{which}.{kind}"] = piece.clone()
            else:
                out[f"{prefix}{inner[part]}.{kind}"] = tensor
            continue
        out[f"decoder.{name}"] = tensor
    return out


def child(files: list[str], dtype_name: str) -> None:
    """Runs in the fresh process: import, load every file, touch every weight, print JSON."""
    import torch

    from mae_core.checkpoints.loading import load_model

    def rss_now() -> int:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def hwm() -> int:  # the same peak from the kernel's per-process counter, as a cross-check
        with open("/proc/self/status") as handle:
            return next(int(line.split()[1]) * 1024 for line in handle if line.startswith("VmHWM"))

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start = time.perf_counter()
    models = [load_model(f, dtype=getattr(torch, dtype_name), offline=True) for f in files]
    seconds = time.perf_counter() - start
    after_load = rss_now()
    total = 0.0
    with torch.no_grad():
        for model in models:
            total += float(sum(p.float().sum() for p in model.parameters()))  # page every weight in
    print(
        json.dumps(
            {
                "baseline": baseline,
                "after_load": after_load,
                "resident": rss_now(),
                "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                "hwm": hwm(),
                "seconds": seconds,
                "model_bytes": sum(p.numel() * p.element_size() for m in models for p in m.parameters()),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, help="where to write the files (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the files")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--dtype", default="float32", help=argparse.SUPPRESS)
    parser.add_argument("--write", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.dtype)
        return
    if args.write:
        write_files(args.write)
        return
    root = args.dir or Path(tempfile.mkdtemp(prefix="mae-bench-"))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    try:
        subprocess.run([sys.executable, __file__, "--write", str(root)], check=True, cwd=REPO, env=env)
        size = (root / "official" / "mae_visualize_vit_large.pth").stat().st_size
        print(f"ViT-L official .pth: {size / GB:.3f} GB; files in {root}\n")
        print("| case | baseline (imports) | peak RSS | peak - baseline | / loaded weights | resident after | load s |")
        print("|---|---|---|---|---|---|---|")
        for label, files, dtype in CASES:
            cmd = [sys.executable, __file__, "--child", *[str(root / f) for f in files], "--dtype", dtype]
            out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env)
            if out.returncode:
                print(f"| {label} | failed: {out.stderr.strip().splitlines()[-1]} |")
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            assert abs(r["peak"] - r["hwm"]) < 0.05 * r["hwm"], r  # getrusage and VmHWM agree
            delta = r["peak"] - r["baseline"]
            print(
                f"| {label} | {r['baseline'] / GB:.2f} GB | {r['peak'] / GB:.2f} GB | {delta / GB:.2f} GB | "
                f"{delta / r['model_bytes']:.2f}x | {r['resident'] / GB:.2f} GB | {r['seconds']:.1f} |",
                flush=True,
            )
    finally:
        if not args.keep and args.dir is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
