"""sources.py: registry names, local files and folders, hf:// and URLs resolved to one file, offline first."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch

from mae_core.checkpoints.checkpoint_files import save_checkpoint
from mae_core.checkpoints.errors import CheckpointNotFoundError, HashMismatchError
from mae_core.checkpoints.loading import load_model
from mae_core.checkpoints.registry import OFFICIAL_URL, Source, registry
from mae_core.checkpoints.sources import hub_blob_sha256, parse_hf_uri, resolve, verify_sha256
from mae_core.files import file_sha256
from tests.conftest import make_model
from tests.fake_caches import PRESET_WIDTH_CONFIG, add_to_hf_cache, official_state

pytestmark = pytest.mark.usefixtures("offline_caches")


def test_url_source_found_in_the_torch_hub_cache(tmp_path):
    reference = make_model(PRESET_WIDTH_CONFIG, seed=1)
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    torch.save({"model": official_state(reference)}, hub / "small.pth")
    spec = {
        "checkpoints": {
            "small": {
                "architecture": "small",
                "loss_type": "pixel",
                "sources": [{"url": "https://example.org/weights/small.pth"}],
            }
        }
    }
    (tmp_path / "reg.json").write_text(json.dumps(spec))
    model = load_model("small", registry=registry(tmp_path / "reg.json"))
    info = model.checkpoint_info
    assert info.format == "official" and info.path == str(hub / "small.pth")
    assert model.config == PRESET_WIDTH_CONFIG  # heads from the official widths
    for name, tensor in reference.state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor), name


def test_offline_and_missing_names_every_place_and_the_command(tmp_path):
    with pytest.raises(CheckpointNotFoundError) as info:
        load_model("vit-large-pixel")
    message = str(info.value)
    assert "'vit-large-pixel'" in message
    assert str(tmp_path / "hf") in message and "facebook/vit-mae-large" in message
    assert str(tmp_path / "torch" / "hub" / "checkpoints" / "mae_visualize_vit_large.pth") in message
    assert "python -m mae_core download vit-large-pixel" in message


def test_unknown_source_lists_registry_names():
    with pytest.raises(CheckpointNotFoundError, match="vit-large-gan"):
        resolve("no-such-thing")


def test_wrong_sha256_is_refused(tmp_path):
    path = tmp_path / "tiny.safetensors"
    save_checkpoint(make_model(), path, loss_type="pixel")
    spec = {
        "checkpoints": {
            "pinned": {
                "architecture": "tiny",
                "loss_type": "pixel",
                "sources": [{"file": str(path), "sha256": "0" * 64}],
            }
        }
    }
    (tmp_path / "reg.json").write_text(json.dumps(spec))
    with pytest.raises(HashMismatchError, match="0" * 64):
        load_model("pinned", registry=registry(tmp_path / "reg.json"))
    spec["checkpoints"]["pinned"]["sources"][0]["sha256"] = file_sha256(path)
    (tmp_path / "reg.json").write_text(json.dumps(spec))
    assert load_model("pinned", registry=registry(tmp_path / "reg.json")).checkpoint_info.sha256 == file_sha256(path)


def test_official_urls_match_the_reference():
    assert registry()["vit-large-gan"].sources[0].location == OFFICIAL_URL + "mae_visualize_vit_large_ganloss.pth"


def test_hf_uri_parts():
    assert parse_hf_uri("hf://org/repo") == Source("hub", "org/repo")
    assert parse_hf_uri("hf://org/repo/sub/w.pth@v1.0") == Source("hub", "org/repo", "sub/w.pth", "v1.0")
    with pytest.raises(CheckpointNotFoundError, match="hf://org/repo"):
        parse_hf_uri("hf://only-org")


def test_folder_resolves_to_its_weights_file(tmp_path):
    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / "notes.txt").write_text("not weights")
    (folder / "a.pth").write_bytes(b"a")
    resolved = resolve(folder)
    assert (resolved.path, resolved.name, resolved.where) == (folder / "a.pth", "weights", "local file")
    (folder / "b.safetensors").write_bytes(b"b")
    with pytest.raises(CheckpointNotFoundError, match="a.pth, b.safetensors"):
        resolve(folder)
    (folder / "model.safetensors").write_bytes(b"m")  # transformers' name wins over the others
    assert resolve(folder).path == folder / "model.safetensors"


def test_hub_blob_name_is_the_sha256_and_verification_uses_it(tmp_path):
    weights = tmp_path / "w.safetensors"
    save_checkpoint(make_model(), weights, loss_type="pixel")
    snapshot = add_to_hf_cache(tmp_path / "hf", "acme/pinned", {"model.safetensors": weights})
    sha = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert hub_blob_sha256(snapshot / "model.safetensors") == sha
    assert hub_blob_sha256(weights) is None  # a plain file's name says nothing
    resolved = resolve("hf://acme/pinned")
    assert verify_sha256(resolved) == sha  # known without reading the file
    assert resolved.where == "Hugging Face cache" and resolved.name == "acme/pinned"
