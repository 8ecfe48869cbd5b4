"""checkpoint_files.py: format sniffing, safe reading (no code from pickles runs), page release, our own writer."""

from __future__ import annotations

import argparse
import json
import pickle
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from mae_core.checkpoints.checkpoint_files import read_checkpoint, release_pages, save_checkpoint
from mae_core.checkpoints.errors import CorruptCheckpointError, UnknownArchitectureError, UnsafeCheckpointError
from mae_core.checkpoints.loading import load_model
from mae_core.checkpoints.registry import LOSS_TYPES
from tests.conftest import TINY_CONFIG, make_model
from tests.fake_caches import PRESET_WIDTH_CONFIG, official_state

pytestmark = pytest.mark.usefixtures("offline_caches")


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_truncated_file_is_reported_as_corrupt(tmp_path, suffix):
    path = tmp_path / f"model{suffix}"
    model = make_model()
    if suffix == ".pth":
        torch.save({"model": official_state(model)}, path)
    else:
        save_checkpoint(model, path, loss_type="pixel")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptCheckpointError, match="damaged|truncated"):
        load_model(path)


def test_not_a_checkpoint_at_all(tmp_path):
    path = tmp_path / "page.pth"
    path.write_text("<html>404 Not Found</html>")
    with pytest.raises(CorruptCheckpointError, match="not a checkpoint"):
        load_model(path)


class _Payload:
    """Unpickling this would create a marker file: the attack a .pth file can carry."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("writer", ["torch.save", "pickle.dump"])
def test_malicious_pickle_is_refused_and_never_runs(tmp_path, writer):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    payload = {"model": {"cls_token": torch.zeros(1), "x": _Payload(marker)}}
    if writer == "torch.save":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=2))
    assert not marker.exists()
    with pytest.raises(UnsafeCheckpointError, match="refused"):
        load_model(path)
    assert not marker.exists()


def test_training_checkpoint_with_args_namespace_loads(tmp_path):
    """The official training script saves ``args`` (an argparse.Namespace) beside the weights: allowed, inert."""
    reference = make_model(PRESET_WIDTH_CONFIG, seed=2)
    path = tmp_path / "checkpoint-799.pth"
    torch.save({"model": official_state(reference), "epoch": 799, "args": argparse.Namespace(mask_ratio=0.75)}, path)
    loaded = load_model(path)
    for name, tensor in reference.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name


def test_read_checkpoint_sniffs_each_format(tmp_path):
    state = official_state(make_model(PRESET_WIDTH_CONFIG, seed=1))
    torch.save({"model": state}, tmp_path / "zip.pth")
    ddp_state = {f"module.{k}": v for k, v in state.items()}
    torch.save(ddp_state, tmp_path / "legacy.pth", _use_new_zipfile_serialization=False)
    save_checkpoint(make_model(), tmp_path / "ours.safetensors", loss_type="gan")
    zipped, legacy, ours = (read_checkpoint(tmp_path / n) for n in ("zip.pth", "legacy.pth", "ours.safetensors"))
    assert (zipped.format, zipped.mapped, zipped.metadata) == ("official", True, {})
    assert (legacy.format, legacy.mapped) == ("state_dict", False)
    assert sorted(legacy.tensors) == sorted(state)  # DistributedDataParallel's "module." prefix dropped
    assert all(torch.equal(legacy.tensors[k], v) for k, v in state.items())
    assert (ours.format, ours.mapped, ours.metadata["loss_type"]) == ("mae_core", True, "gan")


def test_a_pickle_without_a_state_dict_is_not_an_architecture(tmp_path):
    torch.save({"epoch": 3, "model": [1, 2]}, tmp_path / "odd.pth")
    with pytest.raises(UnknownArchitectureError, match="holds no state dict"):
        read_checkpoint(tmp_path / "odd.pth")


def test_release_pages_leaves_the_values_readable(tmp_path):
    """Pages given back are clean pages of the file: touching the tensor again reads the same bytes back."""
    values = torch.arange(1 << 16, dtype=torch.float32)  # 256 KiB: spans whole pages, unlike tiny weights
    save_file({"values": values}, tmp_path / "big.safetensors")
    raw = read_checkpoint(tmp_path / "big.safetensors")
    assert raw.mapped
    mapped = raw.tensors["values"]
    assert torch.equal(mapped, values)  # every page resident now
    release_pages(mapped)
    assert torch.equal(mapped, values)
    release_pages(torch.empty(0))  # nothing to give back: no call, no error


def test_save_checkpoint_writes_self_describing_metadata_atomically(tmp_path):
    model = make_model()
    path = save_checkpoint(model, tmp_path / "m.safetensors", loss_type="gan")
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
    assert metadata == {"format": "mae_core", "mae_config": json.dumps(TINY_CONFIG.to_dict()), "loss_type": "gan"}
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # no staging file left behind
    with pytest.raises(ValueError, match="'l2'") as info:
        save_checkpoint(model, tmp_path / "x.safetensors", loss_type="l2")
    assert all(repr(loss) in str(info.value) for loss in LOSS_TYPES)
    with pytest.raises(ValueError, match="floating"):
        save_checkpoint(model, tmp_path / "x.safetensors", loss_type="pixel", dtype=torch.int8)
    assert not (tmp_path / "x.safetensors").exists()
