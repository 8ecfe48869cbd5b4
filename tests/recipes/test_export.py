"""The export: the float16 bundled form with a ``sha256sum``-compatible SHA256SUMS."""

from __future__ import annotations

import hashlib

import torch
from safetensors import safe_open

from mae_core.checkpoints.loading import load_model


def test_export_writes_float16_pair_and_sums(smoke_runs):
    bundled = smoke_runs[0].parent / "bundled"
    lines = (bundled / "SHA256SUMS").read_text().splitlines()
    assert [line.split("  ")[1] for line in lines] == ["tiny-gan.safetensors", "tiny-pixel.safetensors"]
    for line in lines:
        digest, name = line.split("  ")
        assert hashlib.sha256((bundled / name).read_bytes()).hexdigest() == digest
        with safe_open(str(bundled / name), framework="pt") as handle:
            assert handle.get_tensor("decoder_pred.weight").dtype == torch.float16
    exported = load_model(bundled / "tiny-pixel.safetensors", offline=True).state_dict()
    trained = load_model(smoke_runs[0] / "tiny-pixel.safetensors", offline=True).state_dict()
    assert all(torch.equal(exported[k], trained[k].half().float()) for k in trained)
